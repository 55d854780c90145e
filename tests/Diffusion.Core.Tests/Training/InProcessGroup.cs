using Diffusion.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Tests.Training;

/// <summary>
/// A process group whose members are threads of this process, for tests of data-parallel training without MPI. Every
/// collective copies each member's buffer into a shared array (tensors never cross threads), waits for all members, and
/// computes the result in rank order, so every member gets the same bits. A member that does not arrive within the
/// timeout fails the others instead of hanging the test run.
/// </summary>
internal sealed class InProcessGroup : IProcessGroup
{
    private readonly Shared _shared;

    private InProcessGroup(Shared shared, int rank)
    {
        _shared = shared;
        Rank = rank;
    }

    /// <summary>The <paramref name="size"/> members of one group, by rank.</summary>
    public static IReadOnlyList<InProcessGroup> Create(int size)
    {
        var shared = new Shared(size);
        return Enumerable.Range(0, size).Select(r => new InProcessGroup(shared, r)).ToArray();
    }

    /// <summary>Runs <paramref name="work"/> once per member, each on its own thread, and returns the results by rank.</summary>
    public static T[] RunAll<T>(IReadOnlyList<InProcessGroup> members, Func<InProcessGroup, T> work)
    {
        var results = new T[members.Count];
        var errors = new Exception?[members.Count];
        var threads = members.Select(m => new Thread(() =>
        {
            try { results[m.Rank] = work(m); }
            catch (Exception e) { errors[m.Rank] = e; m._shared.Barrier.Dispose(); }
        }, 64 << 20)).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        if (errors.FirstOrDefault(e => e is not null and not ObjectDisposedException and not TimeoutException) is { } first) throw first;
        if (errors.FirstOrDefault(e => e is not null) is { } any) throw any;
        return results;
    }

    public int Rank { get; }

    public int Size => _shared.Slots.Length;

    /// <summary>Collectives called so far by this member.</summary>
    public int Calls { get; private set; }

    public void AllReduceMean(Tensor buffer)
    {
        ProcessGroups.CheckReduceBuffer(buffer);
        Calls++;
        _shared.Slots[Rank] = buffer.contiguous().cpu().data<float>().ToArray();
        Wait();
        var mean = new float[((float[])_shared.Slots[0]).Length];
        for (int i = 0; i < mean.Length; i++)
        {
            float sum = 0;
            foreach (var slot in _shared.Slots) sum += ((float[])slot)[i];
            mean[i] = sum / Size;
        }
        Wait(); // everyone has read the slots before anyone writes them again
        using var result = tensor(mean);
        using var noGrad = no_grad();
        buffer.copy_(result);
    }

    public void Broadcast(Tensor buffer, int root = 0)
    {
        ProcessGroups.CheckBroadcastBuffer(buffer, root, Size);
        Calls++;
        if (Rank == root) _shared.Slots[root] = buffer.contiguous().cpu().bytes.ToArray();
        Wait();
        var bytes = (byte[])_shared.Slots[root];
        if (Rank != root)
        {
            using var copy = buffer.contiguous().cpu().clone();
            if (bytes.Length != copy.bytes.Length) throw new InvalidOperationException($"Broadcast of {bytes.Length} bytes into a buffer of {copy.bytes.Length}.");
            copy.bytes = bytes;
            using var noGrad = no_grad();
            buffer.copy_(copy);
        }
        Wait();
    }

    public bool Any(bool flag)
    {
        Calls++;
        _shared.Slots[Rank] = flag;
        Wait();
        bool any = _shared.Slots.Any(s => (bool)s);
        Wait();
        return any;
    }

    public void Barrier()
    {
        Calls++;
        Wait();
    }

    private void Wait()
    {
        if (!_shared.Barrier.SignalAndWait(TimeSpan.FromMinutes(2)))
            throw new TimeoutException($"Rank {Rank}: another member did not reach the same collective (call {Calls}).");
    }

    private sealed class Shared(int size)
    {
        public readonly object[] Slots = new object[size];
        public readonly System.Threading.Barrier Barrier = new(size);
    }
}
