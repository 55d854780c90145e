using static TorchSharp.torch;

namespace Diffusion.Core;

/// <summary>
/// Runs another denoiser on at most <see cref="MaxRows"/> rows at a time and concatenates the predictions, so a large
/// sampling batch (classifier-free guidance doubles it) never makes activations larger than a chunk's. On glibc, blocks
/// above 64 MiB allocated on any thread but the main one are mapped afresh and zeroed by the kernel on every allocation
/// whatever the allocator tuning (see <see cref="Memory.AllocatorTuning"/>); chunks keep the tensors below that, and
/// also in cache. The result equals one call on the whole batch up to float rounding.
/// </summary>
public sealed class ChunkedDenoiser : IDenoiser
{
    /// <summary>Wraps <paramref name="inner"/>.</summary>
    /// <exception cref="DiffusionException"><paramref name="maxRows"/> is below 1.</exception>
    public ChunkedDenoiser(IDenoiser inner, int maxRows)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (maxRows < 1) throw new DiffusionException($"A chunk needs at least one row, got {maxRows}.");
        Inner = inner;
        MaxRows = maxRows;
    }

    /// <summary>The wrapped denoiser.</summary>
    public IDenoiser Inner { get; }

    /// <summary>The most rows one call of <see cref="Inner"/> gets.</summary>
    public int MaxRows { get; }

    /// <inheritdoc />
    public Prediction Prediction => Inner.Prediction;

    /// <inheritdoc />
    public Tensor Predict(Tensor x, Tensor t, Condition condition)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(t);
        ArgumentNullException.ThrowIfNull(condition);
        long rows = x.shape[0];
        if (rows <= MaxRows) return Inner.Predict(x, t, condition);
        using var scope = NewDisposeScope();
        var parts = new List<Tensor>();
        for (long start = 0; start < rows; start += MaxRows)
        {
            long n = Math.Min(MaxRows, rows - start);
            using var index = arange(start, start + n, dtype: ScalarType.Int64, device: x.device);
            var tt = t.dim() == 0 ? t : t.narrow(0, start, n);
            parts.Add(Inner.Predict(x.narrow(0, start, n), tt, condition.IsEmpty ? condition : condition.Select(index)));
        }
        return cat(parts, 0).MoveToOuterDisposeScope();
    }
}
