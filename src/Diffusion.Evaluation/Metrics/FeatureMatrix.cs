using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>Checks on the (N, D) feature matrices the metrics take.</summary>
internal static class FeatureMatrix
{
    /// <summary>Returns <paramref name="x"/> as float64 on the CPU after checking it is a finite (N ≥ <paramref name="minRows"/>, D) matrix.</summary>
    public static Tensor AsFloat64(Tensor x, string what, long minRows = 1)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.dim() != 2 || x.shape[0] < minRows || x.shape[1] < 1)
            throw new DiffusionException($"{what} must be a feature matrix (N ≥ {minRows}, D ≥ 1), got shape ({string.Join(", ", x.shape)}).");
        if (!x.is_floating_point())
            throw new DiffusionException($"{what} must be floating point, got {x.dtype}.");
        using var scope = NewDisposeScope();
        var y = x.to(ScalarType.Float64).cpu();
        if (!isfinite(y).all().item<bool>())
            throw new DiffusionException($"{what} contains NaN or infinite values; check the generated images and the extractor.");
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>Checks that two feature matrices have the same width D.</summary>
    public static void SameWidth(Tensor a, Tensor b)
    {
        if (a.shape[1] != b.shape[1])
            throw new DiffusionException($"Reference and sample features differ in size ({a.shape[1]} vs {b.shape[1]}); use the same extractor for both.");
    }

    /// <summary>sqrt of a symmetric positive semi-definite matrix through its eigendecomposition A = V diag(λ) Vᵀ,
    /// with eigenvalues clamped at 0 (rounding can make tiny ones negative).</summary>
    public static Tensor SqrtPsd(Tensor a)
    {
        using var scope = NewDisposeScope();
        var (lambda, v) = linalg.eigh((a + a.T) / 2);
        return (v * lambda.clamp_min(0).sqrt().unsqueeze(0)).mm(v.T).MoveToOuterDisposeScope();  // V diag(√λ) Vᵀ
    }
}
