using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// The transformer position encoding applied to diffusion timesteps (Vaswani et al. 2017, Sec. 3.5;
/// Ho et al. 2020, Appendix B), laid out as diffusers' <c>Timesteps</c> with <c>flip_sin_to_cos = true</c>
/// and <c>downscale_freq_shift = 0</c>: [cos(t·w_i), sin(t·w_i)] with w_i = 10000^(−i/half), i = 0 … half − 1.
/// </summary>
public static class SinusoidalEmbedding
{
    /// <summary>The longest period of the encoding, in timesteps.</summary>
    public const double MaxPeriod = 10000;

    /// <summary>
    /// Encodes timesteps <paramref name="t"/> (shape (B), any real dtype; fractional values are fine) as
    /// float32 vectors of width <paramref name="dim"/>, shape (B, dim). An odd width is zero-padded.
    /// Always computed in float32: bf16 has too few mantissa bits for t·w at t ≈ 1000.
    /// </summary>
    /// <exception cref="DiffusionException"><paramref name="t"/> is not one-dimensional, or <paramref name="dim"/> is below 2.</exception>
    public static Tensor Encode(Tensor t, int dim)
    {
        ArgumentNullException.ThrowIfNull(t);
        if (t.dim() != 1) throw new DiffusionException($"Timesteps must have shape (B), got ({string.Join(", ", t.shape)}).");
        if (dim < 2) throw new DiffusionException($"The timestep encoding needs a width of at least 2, got {dim}.");
        using var scope = NewDisposeScope();
        int half = dim / 2;
        var exponent = arange(half, dtype: ScalarType.Float32, device: t.device) * (-Math.Log(MaxPeriod) / half); // (half)
        var angles = t.to(ScalarType.Float32).unsqueeze(1) * exponent.exp().unsqueeze(0); // (B, half)
        var emb = cat(new[] { angles.cos(), angles.sin() }, 1); // (B, 2·half)
        if (dim % 2 == 1) emb = nn.functional.pad(emb, new long[] { 0, 1 }); // (B, dim)
        return emb.MoveToOuterDisposeScope();
    }
}
