using Diffusion.Core;
using Diffusion.Core.Conditioning;
using Diffusion.Core.Schedules;
using Diffusion.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Tests.Training;

/// <summary>Data-parallel training through <see cref="IProcessGroup"/>, with replicas on threads (<see cref="ReplicaGroup"/>).</summary>
[Collection("torch")]
public sealed class DataParallelTrainerTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    // Random flips, label dropout, timesteps and noise all in play; clipping on, so the averaged gradient's norm matters.
    private static TrainingOptions Options(int steps, int batch = 8) => new()
    {
        BatchSize = batch, MaxSteps = steps, WarmupSteps = 2, LogEvery = 2, CheckpointEvery = 100, SampleEvery = null,
        Precision = Precision.Float32, Seed = 7, LabelDropout = 0.2, HorizontalFlip = true, GradientClip = 0.5,
    };

    private sealed record Replica(Dictionary<string, float[]> Weights, Dictionary<string, float[]> Ema, int Step, TrainingResult Result);

    private static Dictionary<string, float[]> Snapshot(IReadOnlyDictionary<string, Tensor> d)
        => d.ToDictionary(kv => kv.Key, kv => kv.Value.data<float>().ToArray());

    /// <summary>Trains one replica; <paramref name="initSeed"/> sets its initial weights (rank 0's are broadcast).</summary>
    private static Replica Train(string dir, TrainingOptions options, IProcessGroup? group = null, int initSeed = 1,
        Action<Trainer>? setup = null, CancellationToken cancellationToken = default, ITrainingObjective? objective = null)
    {
        TinyDenoiser net;
        lock (typeof(DataParallelTrainerTests)) { manual_seed(initSeed); net = new TinyDenoiser(); } // the global RNG is shared by the threads
        using (net)
        {
            using var trainer = new Trainer(net, new NoiseSchedule(new ScheduleOptions()), new ClassConditioner(3), new RandomData(), options, dir,
                objective: objective, processGroup: group);
            setup?.Invoke(trainer);
            var result = trainer.Run(cancellationToken: cancellationToken);
            return new Replica(Snapshot(trainer.Weights), Snapshot(trainer.EmaWeights), trainer.Step, result);
        }
    }

    /// <summary>The default objective, recording how many rows each call trains on.</summary>
    private sealed class Recording : ITrainingObjective
    {
        private readonly DiffusionObjective _inner = new(new NoiseSchedule(new ScheduleOptions()), Prediction.Epsilon);
        public readonly List<long> Rows = new();

        public Tensor Loss(nn.Module<Tensor, Tensor, Condition, Tensor> network, Tensor x0, Condition condition, Generator generator)
            => Loss(network, x0, condition, generator, BatchShard.Whole((int)x0.shape[0]));

        public Tensor Loss(nn.Module<Tensor, Tensor, Condition, Tensor> network, Tensor x0, Condition condition, Generator generator, BatchShard shard)
        {
            Rows.Add(x0.shape[0]);
            Assert.Equal(x0.shape[0], condition.Labels!.shape[0]);
            return _inner.Loss(network, x0, condition, generator, shard);
        }
    }

    private static double MaxDifference(Dictionary<string, float[]> a, Dictionary<string, float[]> b)
    {
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        double max = 0;
        foreach (var (name, w) in a)
            for (int i = 0; i < w.Length; i++) max = Math.Max(max, Math.Abs(w[i] - b[name][i]));
        return max;
    }

    [Fact]
    public void TwoReplicasOnHalvesOfEachBatchEqualOneReplicaOnTheWholeBatch()
    {
        var one = Train(Path.Combine(_dir, "one"), Options(6));
        var objectives = new[] { new Recording(), new Recording() };
        var two = ReplicaGroup.Run(2,
            g => Train(Path.Combine(_dir, $"two-rank{g.Rank}"), Options(6), g, initSeed: 1 + g.Rank, objective: objectives[g.Rank]));
        Assert.All(objectives, o => Assert.Equal(Enumerable.Repeat(4L, 6), o.Rows)); // each replica trains on half of every batch
        // The replicas hold the same bits (same averaged gradient, same updates), and match one process up to float summation order.
        Assert.Equal(0, MaxDifference(two[0].Weights, two[1].Weights));
        Assert.Equal(0, MaxDifference(two[0].Ema, two[1].Ema));
        double weights = MaxDifference(one.Weights, two[0].Weights), ema = MaxDifference(one.Ema, two[0].Ema);
        Assert.True(weights < 1e-5, $"weights differ by {weights}");
        Assert.True(ema < 1e-5, $"EMA differs by {ema}");
        Assert.Equal(6, two[1].Step);
        // The logged loss is the global batch's (the mean of the shards' means).
        Assert.Equal(one.Result.FinalLoss, two[0].Result.FinalLoss, 1e-5);
        // Only rank 0 touches its run folder.
        Assert.True(File.Exists(Path.Combine(_dir, "two-rank0", "metrics.jsonl")));
        Assert.True(Directory.Exists(Trainer.CheckpointDirectory(Path.Combine(_dir, "two-rank0"))));
        Assert.False(Directory.Exists(Path.Combine(_dir, "two-rank1")));
        Assert.Equal(File.ReadAllLines(Path.Combine(_dir, "one", "metrics.jsonl")).Length, File.ReadAllLines(Path.Combine(_dir, "two-rank0", "metrics.jsonl")).Length);
    }

    [Fact]
    public void AResumedTwoProcessRunEqualsTheUninterruptedOneProcessRun()
    {
        var straight = Train(Path.Combine(_dir, "straight"), Options(8));
        // Both ranks write "their" folder name, but only rank 0's exists: on resume rank 1 gets everything by broadcast.
        ReplicaGroup.Run(2, g => Train(Path.Combine(_dir, g.Rank == 0 ? "resumed" : "resumed-rank1"), Options(3), g, initSeed: 1 + g.Rank));
        var resumed = ReplicaGroup.Run(2,
            g => Train(Path.Combine(_dir, g.Rank == 0 ? "resumed" : "resumed-rank1"), Options(8), g, initSeed: 5 + g.Rank));
        Assert.All(resumed, r => Assert.Equal(8, r.Step));
        double weights = MaxDifference(straight.Weights, resumed[1].Weights), ema = MaxDifference(straight.Ema, resumed[1].Ema);
        Assert.True(weights < 1e-5, $"weights differ by {weights}");
        Assert.True(ema < 1e-5, $"EMA differs by {ema}");
        Assert.False(Directory.Exists(Path.Combine(_dir, "resumed-rank1")));
    }

    [Fact]
    public void ARunResumesWithAnotherNumberOfProcesses()
    {
        // The checkpoint holds no trace of P: a run started on 2 processes continues alone (or the other way round).
        var straight = Train(Path.Combine(_dir, "straight"), Options(8));
        var run = Path.Combine(_dir, "switch");
        ReplicaGroup.Run(2, g => Train(g.Rank == 0 ? run : run + "-rank1", Options(3), g));
        var alone = Train(run, Options(8));
        Assert.Equal(8, alone.Step);
        double weights = MaxDifference(straight.Weights, alone.Weights);
        Assert.True(weights < 1e-5, $"weights differ by {weights}");
        using var last = System.Text.Json.JsonDocument.Parse(File.ReadAllLines(Path.Combine(run, "metrics.jsonl"))[0]);
        Assert.Equal(2, last.RootElement.GetProperty("processes").GetInt32());
        Assert.Equal(0, last.RootElement.GetProperty("skippedInInterval").GetInt32());
    }

    [Fact]
    public void CancellingOneReplicaStopsBothAfterTheSameStep()
    {
        using var cancel = new CancellationTokenSource();
        var replicas = ReplicaGroup.Run(2, g =>
            Train(Path.Combine(_dir, $"cancel-rank{g.Rank}"), Options(50), g, setup: t =>
            {
                int steps = 0;
                if (g.Rank == 1) t.GradientHook = _ => { if (++steps == 3) cancel.Cancel(); };
            }, cancellationToken: g.Rank == 1 ? cancel.Token : default));
        Assert.All(replicas, r => Assert.True(r.Result.Cancelled));
        Assert.All(replicas, r => Assert.Equal(3, r.Step));
        Assert.Equal(0, MaxDifference(replicas[0].Weights, replicas[1].Weights));
    }

    [Fact]
    public void ABatchThatDoesNotSplitEvenlyIsRefused()
    {
        var members = ReplicaGroup.Create(2);
        manual_seed(1);
        using var net = new TinyDenoiser();
        var e = Assert.Throws<DiffusionException>(() => new Trainer(net, new NoiseSchedule(new ScheduleOptions()), null, new RandomData(),
            Options(2, batch: 7), Path.Combine(_dir, "odd"), processGroup: members[0]));
        Assert.Contains("divisible by 2", e.Message);
    }

    [Fact]
    public void BatchShardsOfAllRanksCoverTheBatchInOrder()
    {
        var members = ReplicaGroup.Create(4);
        var shards = members.Select(m => m.ShardOf(12)).ToArray();
        Assert.Equal([0, 3, 6, 9], shards.Select(s => s.Offset));
        Assert.All(shards, s => Assert.Equal(3, s.Count));
        Assert.True(SingleProcess.Instance.ShardOf(12).IsWhole);
        using var rows = arange(12);
        Assert.Equal([6L, 7, 8], shards[2].Of(rows).data<long>().ToArray());
    }

    [Fact]
    public void AnObjectiveWithoutShardingFailsWithAClearMessageOnlyWhenSharded()
    {
        ITrainingObjective objective = new NoShards();
        manual_seed(1);
        using var net = new TinyDenoiser();
        using var x = zeros(4, 1, 8, 8);
        using var whole = objective.Loss(net, x, Condition.None, new Generator(0), BatchShard.Whole(4));
        var e = Assert.Throws<DiffusionException>(() => objective.Loss(net, x, Condition.None, new Generator(0), new BatchShard(4, 4, 8)));
        Assert.Contains("NoShards", e.Message);
    }

    private sealed class NoShards : ITrainingObjective
    {
        public Tensor Loss(nn.Module<Tensor, Tensor, Condition, Tensor> network, Tensor x0, Condition condition, Generator generator)
            => network.forward(x0, full(new[] { x0.shape[0] }, 500f), condition).square().mean();
    }
}
