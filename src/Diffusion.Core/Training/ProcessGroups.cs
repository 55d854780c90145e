using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Training;

/// <summary>Helpers over <see cref="IProcessGroup"/>: argument checks shared by the implementations, broadcasting text,
/// and the shard of a batch that a rank trains on.</summary>
public static class ProcessGroups
{
    /// <summary>Throws unless <paramref name="buffer"/> is a 1-D float32 tensor (what <see cref="IProcessGroup.AllReduceMean"/> takes).</summary>
    /// <exception cref="ArgumentException">The buffer has another shape or dtype.</exception>
    public static void CheckReduceBuffer(Tensor buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (buffer.dim() != 1 || buffer.dtype != ScalarType.Float32)
            throw new ArgumentException($"AllReduceMean takes a 1-D float32 tensor, got {buffer.dtype} of shape [{string.Join(", ", buffer.shape)}].", nameof(buffer));
    }

    /// <summary>Throws unless <paramref name="buffer"/> is 1-D float32, float64, int64 or uint8 and <paramref name="root"/>
    /// is a rank of a group of <paramref name="size"/>.</summary>
    /// <exception cref="ArgumentException">The buffer has another shape or dtype.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The root is not a rank of the group.</exception>
    public static void CheckBroadcastBuffer(Tensor buffer, int root, int size)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (buffer.dim() != 1 || buffer.dtype is not (ScalarType.Float32 or ScalarType.Float64 or ScalarType.Int64 or ScalarType.Byte))
            throw new ArgumentException($"Broadcast takes a 1-D float32, float64, int64 or uint8 tensor, got {buffer.dtype} of shape [{string.Join(", ", buffer.shape)}].", nameof(buffer));
        if (root < 0 || root >= size) throw new ArgumentOutOfRangeException(nameof(root), $"Root {root} is not a rank of a group of {size}.");
    }

    /// <summary>Rank <paramref name="root"/>'s <paramref name="text"/> on every process (the others' argument is ignored).</summary>
    public static string BroadcastText(this IProcessGroup group, string text, int root = 0)
    {
        ArgumentNullException.ThrowIfNull(group);
        if (group.Size == 1) return text;
        using var scope = NewDisposeScope();
        var bytes = group.Rank == root ? Encoding.UTF8.GetBytes(text ?? "") : [];
        var length = tensor(new long[] { bytes.Length });
        group.Broadcast(length, root);
        var data = group.Rank == root ? tensor(bytes) : zeros(length.ToInt64(), ScalarType.Byte);
        if (data.numel() > 0) group.Broadcast(data, root);
        return Encoding.UTF8.GetString(data.data<byte>().ToArray());
    }

    /// <summary>True on every process when <paramref name="flag"/> is true on all of them (a logical AND).</summary>
    public static bool All(this IProcessGroup group, bool flag)
    {
        ArgumentNullException.ThrowIfNull(group);
        return !group.Any(!flag);
    }

    /// <summary>The shard of a batch of <paramref name="batchSize"/> that <paramref name="group"/>'s rank trains on:
    /// contiguous, rank r takes rows [r·B/P, (r+1)·B/P), so the shards of all ranks, in rank order, are the whole batch.</summary>
    /// <exception cref="DiffusionException">The batch does not split evenly over the group's processes.</exception>
    public static BatchShard ShardOf(this IProcessGroup group, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(group);
        if (batchSize % group.Size != 0)
            throw new DiffusionException($"The batch of {batchSize} does not split evenly over {group.Size} processes; pick a batch size divisible by {group.Size}.");
        int count = batchSize / group.Size;
        return new BatchShard(group.Rank * count, count, batchSize);
    }
}

/// <summary>The rows of a global batch that one process trains on.</summary>
/// <param name="Offset">First row of the shard.</param>
/// <param name="Count">Rows in the shard.</param>
/// <param name="BatchSize">Rows in the global batch.</param>
public readonly record struct BatchShard(int Offset, int Count, int BatchSize)
{
    /// <summary>The whole batch of <paramref name="batchSize"/> (training in one process).</summary>
    public static BatchShard Whole(int batchSize) => new(0, batchSize, batchSize);

    /// <summary>True when the shard is the whole batch.</summary>
    public bool IsWhole => Offset == 0 && Count == BatchSize;

    /// <summary>This shard's rows of <paramref name="batch"/>, a tensor whose first dimension is <see cref="BatchSize"/>
    /// (a view; the tensor itself when the shard is whole).</summary>
    /// <exception cref="ArgumentException">The tensor's first dimension is not <see cref="BatchSize"/>.</exception>
    public Tensor Of(Tensor batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.shape[0] != BatchSize)
            throw new ArgumentException($"Expected a batch of {BatchSize} rows, got {batch.shape[0]}.", nameof(batch));
        return IsWhole ? batch : batch.narrow(0, Offset, Count);
    }
}
