using Diffusion.Core;
using static TorchSharp.torch;

namespace Diffusion.Text.Encoders;

/// <summary>
/// A frozen text encoder with its outputs remembered per token row: each distinct row (ids and mask) is encoded once and
/// later batches are assembled from the cache. Label captions have a few hundred distinct rows, so training a frozen
/// pretrained encoder's model (MiniLM runs on ONNX Runtime) encodes each of them once instead of every step; the results
/// equal the inner encoder's, row for row.
/// </summary>
/// <remarks>Cached states live on the CPU in float32, (L, D) and (D) per row, outside every dispose scope, until
/// <see cref="Dispose"/>. The cache has no size limit: use it for bounded caption sets, not free text. Not thread-safe (a
/// trainer encodes from one thread).</remarks>
public sealed class CachedTextEncoder : ITextEncoder, IDisposable
{
    private readonly Dictionary<string, (Tensor Hidden, Tensor Pooled)> _cache = new(StringComparer.Ordinal);
    private bool _disposed;

    /// <summary>Caches <paramref name="inner"/>, which must be frozen.</summary>
    /// <exception cref="DiffusionException">The encoder trains: its outputs change every step and cannot be cached.</exception>
    public CachedTextEncoder(ITextEncoder inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (inner.Trainable) throw new DiffusionException($"A {inner.GetType().Name} that trains cannot be cached: its outputs change every step.");
        Inner = inner;
    }

    /// <summary>The encoder whose outputs are cached.</summary>
    public ITextEncoder Inner { get; }

    /// <summary>Distinct token rows encoded so far.</summary>
    public int CachedRows => _cache.Count;

    /// <inheritdoc />
    public int HiddenSize => Inner.HiddenSize;

    /// <inheritdoc />
    public int MaxLength => Inner.MaxLength;

    /// <inheritdoc />
    /// <remarks>Always false.</remarks>
    public bool Trainable => false;

    /// <inheritdoc />
    public TextEncoding Encode(Tensor ids, Tensor mask)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(mask);
        if (ids.dim() != 2 || !ids.shape.SequenceEqual(mask.shape))
            throw new DiffusionException($"Token ids and mask must both be (B, L), got ({string.Join(", ", ids.shape)}) and ({string.Join(", ", mask.shape)}).");
        int b = (int)ids.shape[0], l = (int)ids.shape[1];
        long[] idData;
        bool[] maskData;
        using (var cpu = ids.to(ScalarType.Int64, CPU)) idData = cpu.data<long>().ToArray();
        using (var cpu = mask.to(ScalarType.Bool, CPU)) maskData = cpu.data<bool>().ToArray();
        var keys = new string[b];
        var missing = new List<int>();
        for (int r = 0; r < b; r++)
        {
            keys[r] = Key(idData.AsSpan(r * l, l), maskData.AsSpan(r * l, l));
            if (!_cache.ContainsKey(keys[r]) && !missing.Any(m => keys[m] == keys[r])) missing.Add(r);
        }
        if (missing.Count > 0) Fill(ids, mask, missing, keys);

        using var scope = NewDisposeScope();
        var hidden = stack(keys.Select(k => _cache[k].Hidden).ToArray()).to(ids.device); // (B, L, D)
        var pooled = stack(keys.Select(k => _cache[k].Pooled).ToArray()).to(ids.device); // (B, D)
        return new TextEncoding(hidden.MoveToOuterDisposeScope(), pooled.MoveToOuterDisposeScope());
    }

    /// <summary>Frees the cached tensors and, when it is disposable, the inner encoder.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var (h, p) in _cache.Values) { h.Dispose(); p.Dispose(); }
        _cache.Clear();
        (Inner as IDisposable)?.Dispose();
    }

    private void Fill(Tensor ids, Tensor mask, List<int> rows, string[] keys)
    {
        using var scope = NewDisposeScope();
        using var grad = no_grad();
        var index = tensor(rows.Select(r => (long)r).ToArray(), device: ids.device);
        var encoding = Inner.Encode(ids.index_select(0, index), mask.index_select(0, index));
        var hidden = encoding.Hidden.to(ScalarType.Float32, CPU);
        var pooled = encoding.Pooled.to(ScalarType.Float32, CPU);
        for (int i = 0; i < rows.Count; i++)
            _cache[keys[rows[i]]] = (hidden[i].clone().DetachFromDisposeScope(), pooled[i].clone().DetachFromDisposeScope());
    }

    private static string Key(ReadOnlySpan<long> ids, ReadOnlySpan<bool> mask)
    {
        var sb = new System.Text.StringBuilder(ids.Length * 4);
        for (int i = 0; i < ids.Length; i++) sb.Append(mask[i] ? ids[i] : -1).Append(',');
        return sb.ToString();
    }
}
