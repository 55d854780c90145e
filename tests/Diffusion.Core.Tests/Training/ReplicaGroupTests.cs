using Diffusion.Core.Training;
using static TorchSharp.torch;

namespace Diffusion.Core.Tests.Training;

/// <summary>The collectives of <see cref="ReplicaGroup"/> and how it fails: exact results in rank order, the first
/// failure rethrown, no replica left waiting.</summary>
[Collection("torch")]
public sealed class ReplicaGroupTests
{
    [Fact]
    public void CollectivesGiveEveryReplicaTheSameResult()
    {
        var results = ReplicaGroup.Run(3, g =>
        {
            using var values = tensor(new[] { g.Rank * 1f, 10f + g.Rank, -g.Rank * 0.5f });
            g.AllReduceMean(values);
            using var root = g.Rank == 2 ? tensor(new long[] { 7, 8 }) : zeros(2, ScalarType.Int64);
            g.Broadcast(root, root: 2);
            bool any = g.Any(g.Rank == 1), all = g.All(g.Rank == 1);
            g.Barrier();
            return (Mean: values.data<float>().ToArray(), Root: root.data<long>().ToArray(), Any: any, All: all);
        });
        Assert.All(results, r =>
        {
            Assert.Equal(new[] { 1f, 11f, -0.5f }, r.Mean);
            Assert.Equal(new long[] { 7, 8 }, r.Root);
            Assert.True(r.Any);
            Assert.False(r.All);
        });
    }

    [Fact]
    public void TheFirstFailureIsRethrownAndReleasesTheOthers()
    {
        // Rank 1 fails before its first collective; rank 0 is waiting in one and must be released, not time out.
        var started = DateTime.UtcNow;
        var e = Assert.Throws<InvalidDataException>(() => ReplicaGroup.Run(2, g =>
        {
            if (g.Rank == 1) { Thread.Sleep(200); throw new InvalidDataException("replica 1 broke"); }
            using var values = ones(4);
            g.AllReduceMean(values);
            return 0;
        }, timeout: TimeSpan.FromMinutes(5)));
        Assert.Equal("replica 1 broke", e.Message);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromMinutes(1));
    }

    [Fact]
    public void AReplicaThatNeverArrivesTimesOut()
    {
        var e = Assert.Throws<TimeoutException>(() => ReplicaGroup.Run(2, g =>
        {
            if (g.Rank == 0) g.Barrier();
            else Thread.Sleep(1500);
            return 0;
        }, timeout: TimeSpan.FromMilliseconds(300)));
        Assert.Contains("Replica 0", e.Message);
    }

    [Fact]
    public void AGroupOfOneIsNoOp()
    {
        var member = Assert.Single(ReplicaGroup.Create(1));
        using var values = tensor(new[] { 3f, 4f });
        member.AllReduceMean(values);
        Assert.Equal(new[] { 3f, 4f }, values.data<float>().ToArray());
        Assert.True(member.Any(true));
        Assert.Throws<ArgumentOutOfRangeException>(() => ReplicaGroup.Create(0));
    }
}
