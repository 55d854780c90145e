using static TorchSharp.torch;

namespace Diffusion.Core.Training;

/// <summary>
/// The processes of one data-parallel training run and the few collective operations the trainer needs (PyTorch's
/// <c>torch.distributed</c> process group, reduced to what <see cref="Trainer"/> calls). Every member must call every
/// collective in the same order with buffers of the same size; a call returns on a process once all have made it.
/// <see cref="SingleProcess"/> is the group of one (every operation is a no-op); Diffusion.Distributed implements it over
/// MPI, so that no other package of the SDK depends on MPI.
/// </summary>
public interface IProcessGroup
{
    /// <summary>This process's index in the group, 0 ≤ Rank &lt; <see cref="Size"/>. Rank 0 writes the run folder.</summary>
    int Rank { get; }

    /// <summary>Number of processes in the group, ≥ 1.</summary>
    int Size { get; }

    /// <summary>Replaces <paramref name="buffer"/> (float32, 1-D) in place by its element-wise mean over all processes.</summary>
    /// <exception cref="ArgumentException">The buffer is not a 1-D float32 tensor.</exception>
    void AllReduceMean(Tensor buffer);

    /// <summary>Overwrites <paramref name="buffer"/> (1-D; float32, float64, int64 or uint8) on every process with the
    /// contents it has on process <paramref name="root"/>.</summary>
    /// <exception cref="ArgumentException">The buffer is not 1-D or has another dtype.</exception>
    void Broadcast(Tensor buffer, int root = 0);

    /// <summary>True on every process when <paramref name="flag"/> is true on at least one (a logical OR): an agreed
    /// decision, e.g. to stop when one process's clock ran out or it was cancelled.</summary>
    bool Any(bool flag);

    /// <summary>Returns once every process has called it.</summary>
    void Barrier();
}

/// <summary>The group of one process: rank 0 of 1, and every collective leaves its input as it is.</summary>
public sealed class SingleProcess : IProcessGroup
{
    /// <summary>The one instance.</summary>
    public static SingleProcess Instance { get; } = new();

    private SingleProcess() { }

    /// <inheritdoc />
    public int Rank => 0;

    /// <inheritdoc />
    public int Size => 1;

    /// <inheritdoc />
    public void AllReduceMean(Tensor buffer) => ProcessGroups.CheckReduceBuffer(buffer);

    /// <inheritdoc />
    public void Broadcast(Tensor buffer, int root = 0) => ProcessGroups.CheckBroadcastBuffer(buffer, root, 1);

    /// <inheritdoc />
    public bool Any(bool flag) => flag;

    /// <inheritdoc />
    public void Barrier() { }
}
