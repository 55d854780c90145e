using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// The context every cross-attention layer of one forward pass reads, prepared once by <see cref="UNet"/>: the context
/// vectors in the network's dtype and, when the condition has a padding mask, the attention mask and a per-row factor.
/// Tensors belong to the UNet's forward scope.
/// </summary>
/// <param name="Context">Context vectors (B, L, D), in the parameters' dtype and on the sample's device.</param>
/// <param name="Mask">Null (every token is real), or bool (B, 1, 1, L), true where a key takes part. A row without a real
/// token has every position set (so the softmax stays finite) and is zeroed afterwards by <paramref name="Keep"/>.</param>
/// <param name="Keep">Null, or (B, 1, 1, 1) in the parameters' dtype: 1 for rows with a real token, 0 for rows with none,
/// whose cross-attention output is then exactly zero (attention over an empty set adds nothing).</param>
internal sealed record CrossContext(Tensor Context, Tensor? Mask, Tensor? Keep)
{
    /// <summary>Prepares <paramref name="context"/> (B, L, D) and an optional bool <paramref name="realTokens"/> (B, L).</summary>
    public static CrossContext Create(Tensor context, Tensor? realTokens)
    {
        if (realTokens is null) return new CrossContext(context, null, null);
        long b = context.shape[0], l = context.shape[1];
        var any = realTokens.any(1, keepdim: true); // (B, 1)
        var mask = realTokens.logical_or(any.logical_not()).view(b, 1, 1, l); // (B, 1, 1, L)
        var keep = any.to(context.dtype).view(b, 1, 1, 1); // (B, 1, 1, 1)
        return new CrossContext(context, mask, keep);
    }
}
