using Diffusion.Core.Training;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>The attention product shared by <see cref="AttentionBlock"/> and the transformer's attention layers.</summary>
internal static class ScaledAttention
{
    /// <summary>softmax(q·kᵀ/sqrt(d))·v (Vaswani et al. 2017, eq. 1), always in float32: more accurate in the softmax, and on
    /// the CPU libtorch's bf16 scaled_dot_product_attention backward is about 15× slower than float32 at these sizes.</summary>
    /// <param name="q">Queries (B, heads, N, d).</param>
    /// <param name="k">Keys (B, heads, L, d).</param>
    /// <param name="v">Values (B, heads, L, d).</param>
    /// <param name="mask">Null, or a bool mask broadcastable to (B, heads, N, L): true where a key takes part.
    /// Every row must keep at least one key, or the softmax has nothing to normalise and gives NaN.</param>
    /// <returns>(B, heads, N, d) in the dtype of <paramref name="q"/>.</returns>
    public static Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor? mask = null)
    {
        // Under autocast, SDPA is on ATen's bf16 list: suspended here so it runs in float32 as everywhere else (4.5x faster
        // for the cifar10 network's training step, docs/performance.md).
        using var fp32 = Autocast.Suspend(q.device);
        if (q.dtype == ScalarType.Float32 || q.dtype == ScalarType.Float64)
            return mask is null ? nn.functional.scaled_dot_product_attention(q, k, v) : nn.functional.scaled_dot_product_attention(q, k, v, mask);
        using var scope = NewDisposeScope();
        var (q32, k32, v32) = (q.to(ScalarType.Float32), k.to(ScalarType.Float32), v.to(ScalarType.Float32));
        var a = mask is null ? nn.functional.scaled_dot_product_attention(q32, k32, v32) : nn.functional.scaled_dot_product_attention(q32, k32, v32, mask);
        return a.to(q.dtype).MoveToOuterDisposeScope();
    }
}
