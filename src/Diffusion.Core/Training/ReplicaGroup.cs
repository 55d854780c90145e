using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Training;

/// <summary>
/// Several replicas of one training run inside one process, one thread each: one replica per CUDA device (PyTorch's
/// <c>DataParallel</c> use, without its single-thread scatter), or several CPU replicas to test the logic. A member is an
/// <see cref="IProcessGroup"/> like an MPI rank, so <see cref="Trainer"/> needs nothing else: each replica trains its
/// shard of every batch on its own device, and the gradients are averaged before the optimizer step — the per-replica
/// gradients of the shard means, summed and divided by the replica count, which is the gradient of the whole batch's mean.
/// <para>Every collective copies each member's buffer to a host array (tensors never cross threads), waits for all members,
/// and combines the arrays in rank order, so every replica gets the same bits. When a replica fails, the others fail at
/// their next collective and <see cref="Run{T}"/> rethrows the first failure; a replica that does not reach a collective
/// within <see cref="Timeout"/> fails the others instead of hanging them.</para>
/// </summary>
public sealed class ReplicaGroup : IProcessGroup
{
    private readonly Shared _shared;

    private ReplicaGroup(Shared shared, int rank)
    {
        _shared = shared;
        Rank = rank;
    }

    /// <summary>The <paramref name="size"/> members of one group, by rank.</summary>
    /// <param name="size">Replicas, ≥ 1.</param>
    /// <param name="timeout">How long a member waits for the others at a collective; null waits 30 minutes (a slow first
    /// step on a big network).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is below 1.</exception>
    public static IReadOnlyList<ReplicaGroup> Create(int size, TimeSpan? timeout = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        var shared = new Shared(size, timeout ?? TimeSpan.FromMinutes(30));
        return Enumerable.Range(0, size).Select(r => new ReplicaGroup(shared, r)).ToArray();
    }

    /// <summary>Runs <paramref name="work"/> once per replica, each on its own thread (with a 64 MiB stack, for deep
    /// networks), and returns the results by rank.</summary>
    /// <param name="size">Replicas, ≥ 1.</param>
    /// <param name="work">What each replica does with its member of the group, e.g. build a network on its device and train.</param>
    /// <param name="timeout">See <see cref="Create"/>.</param>
    /// <exception cref="Exception">The first exception a replica threw (not the follow-on failures of the others).</exception>
    public static T[] Run<T>(int size, Func<ReplicaGroup, T> work, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(work);
        var members = Create(size, timeout);
        var results = new T[size];
        var errors = new Exception?[size];
        var threads = members.Select(m => new Thread(() =>
        {
            try { results[m.Rank] = work(m); }
            catch (Exception e)
            {
                lock (errors) { errors[m.Rank] = e; m._shared.Failed ??= m.Rank; }
                m._shared.Stop.Cancel(); // the others fail at their next collective instead of waiting for this one
            }
        }, 64 << 20) { Name = $"replica {m.Rank}" }).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        members[0]._shared.Dispose();
        if (members[0]._shared.Failed is int first) throw errors[first]!;
        return results;
    }

    /// <inheritdoc />
    public int Rank { get; }

    /// <inheritdoc />
    public int Size => _shared.Slots.Length;

    /// <summary>How long a member waits for the others at a collective.</summary>
    public TimeSpan Timeout => _shared.Timeout;

    /// <inheritdoc />
    public void AllReduceMean(Tensor buffer)
    {
        ProcessGroups.CheckReduceBuffer(buffer);
        if (Size == 1) return;
        using var host = buffer.detach().contiguous().cpu();
        _shared.Slots[Rank] = host.data<float>().ToArray();
        Wait();
        var mean = new float[((float[])_shared.Slots[0]).Length];
        for (int r = 0; r < Size; r++)
        {
            var slot = (float[])_shared.Slots[r];
            if (slot.Length != mean.Length)
                throw new InvalidOperationException($"AllReduceMean of {mean.Length} values on rank 0 but {slot.Length} on rank {r}.");
            for (int i = 0; i < mean.Length; i++) mean[i] += slot[i];
        }
        float inverse = 1f / Size;
        for (int i = 0; i < mean.Length; i++) mean[i] *= inverse;
        Wait(); // every member has read the slots before any writes them again
        using var result = tensor(mean).to(buffer.device);
        using var noGrad = no_grad();
        buffer.copy_(result);
    }

    /// <inheritdoc />
    public void Broadcast(Tensor buffer, int root = 0)
    {
        ProcessGroups.CheckBroadcastBuffer(buffer, root, Size);
        if (Size == 1) return;
        if (Rank == root)
        {
            using var host = buffer.detach().contiguous().cpu();
            _shared.Slots[root] = host.bytes.ToArray();
        }
        Wait();
        if (Rank != root)
        {
            var bytes = (byte[])_shared.Slots[root];
            using var copy = buffer.detach().contiguous().cpu().clone();
            if (bytes.Length != copy.bytes.Length)
                throw new InvalidOperationException($"Broadcast of {bytes.Length} bytes from rank {root} into a buffer of {copy.bytes.Length} on rank {Rank}.");
            copy.bytes = bytes;
            using var onDevice = copy.to(buffer.device);
            using var noGrad = no_grad();
            buffer.copy_(onDevice);
        }
        Wait();
    }

    /// <inheritdoc />
    public bool Any(bool flag)
    {
        if (Size == 1) return flag;
        _shared.Slots[Rank] = flag;
        Wait();
        bool any = false;
        foreach (var slot in _shared.Slots) any |= (bool)slot;
        Wait();
        return any;
    }

    /// <inheritdoc />
    public void Barrier()
    {
        if (Size > 1) Wait();
    }

    private void Wait()
    {
        try
        {
            if (!_shared.Barrier.SignalAndWait(_shared.Timeout, _shared.Stop.Token))
                throw new TimeoutException($"Replica {Rank}: another replica did not reach the same collective within {_shared.Timeout}.");
        }
        catch (OperationCanceledException)
        {
            throw new OperationCanceledException($"Replica {Rank} stops: replica {_shared.Failed?.ToString() ?? "another"} failed.");
        }
    }

    private sealed class Shared(int size, TimeSpan timeout) : IDisposable
    {
        public readonly object[] Slots = new object[size];
        public readonly System.Threading.Barrier Barrier = new(size);
        public readonly CancellationTokenSource Stop = new();
        public readonly TimeSpan Timeout = timeout;
        public int? Failed;

        public void Dispose()
        {
            Barrier.Dispose();
            Stop.Dispose();
        }
    }
}
