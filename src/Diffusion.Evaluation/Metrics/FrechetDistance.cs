using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>A Fréchet distance between reference and sample features.</summary>
/// <param name="Value">d² = |μ₁ − μ₂|² + tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½), clamped at 0.</param>
/// <param name="ReferenceCount">Reference samples behind (μ₁, Σ₁).</param>
/// <param name="SampleCount">Generated samples behind (μ₂, Σ₂).</param>
/// <param name="Extractor">The feature extractor's name.</param>
public sealed record FrechetDistanceResult(double Value, long ReferenceCount, long SampleCount, string Extractor) : IMetricResult
{
    /// <inheritdoc/>
    public IReadOnlyList<MetricValue> Values => [new MetricValue("FID", Value, null, ReferenceCount, SampleCount, Extractor)];
}

/// <summary>
/// The Fréchet distance between two Gaussians fitted to features (FID, Heusel et al. 2017, Eq. 6),
/// in float64. tr((Σ₁Σ₂)^½) is computed as Σᵢ √λᵢ over the eigenvalues of the symmetric PSD matrix
/// Σ₁^½ Σ₂ Σ₁^½, which has the same eigenvalues as Σ₁Σ₂ (negatives from rounding clamped to 0).
/// </summary>
public static class FrechetDistance
{
    /// <summary>FID between reference and sample statistics.</summary>
    /// <exception cref="DiffusionException">The statistics differ in size or come from different extractors.</exception>
    public static FrechetDistanceResult Compute(FeatureStatistics reference, FeatureStatistics samples)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(samples);
        if (reference.Extractor != samples.Extractor)
            throw new DiffusionException($"Reference statistics come from '{reference.Extractor}' but sample statistics from '{samples.Extractor}'; use the same extractor for both.");
        using var scope = NewDisposeScope();
        double d = Compute(reference.MeanTensor(), reference.CovarianceTensor(), samples.MeanTensor(), samples.CovarianceTensor());
        return new FrechetDistanceResult(d, reference.Count, samples.Count, reference.Extractor);
    }

    /// <summary>d²((μ₁, Σ₁), (μ₂, Σ₂)) for means of shape (D) and symmetric PSD covariances (D, D); computed in float64.</summary>
    /// <exception cref="DiffusionException">The shapes disagree.</exception>
    public static double Compute(Tensor mu1, Tensor sigma1, Tensor mu2, Tensor sigma2)
    {
        ArgumentNullException.ThrowIfNull(mu1);
        ArgumentNullException.ThrowIfNull(sigma1);
        ArgumentNullException.ThrowIfNull(mu2);
        ArgumentNullException.ThrowIfNull(sigma2);
        long d = mu1.shape.Length == 1 ? mu1.shape[0] : -1;
        foreach (var (t, rank) in new[] { (mu1, 1), (mu2, 1), (sigma1, 2), (sigma2, 2) })
            if (t.dim() != rank || t.shape.Any(s => s != d))
                throw new DiffusionException($"FID needs two means of shape (D) and two covariances of shape (D, D) with the same D; got ({string.Join(", ", mu1.shape)}), ({string.Join(", ", sigma1.shape)}), ({string.Join(", ", mu2.shape)}), ({string.Join(", ", sigma2.shape)}).");

        using var scope = NewDisposeScope();
        var m1 = mu1.to(ScalarType.Float64).cpu();
        var m2 = mu2.to(ScalarType.Float64).cpu();
        var s1 = sigma1.to(ScalarType.Float64).cpu();
        var s2 = sigma2.to(ScalarType.Float64).cpu();
        var diff = m1 - m2;
        var root1 = FeatureMatrix.SqrtPsd(s1);
        var inner = root1.mm(s2).mm(root1);                                    // Σ₁^½ Σ₂ Σ₁^½, symmetric PSD
        var traceSqrt = linalg.eigvalsh((inner + inner.T) / 2).clamp_min(0).sqrt().sum();
        var value = diff.dot(diff) + s1.trace() + s2.trace() - 2 * traceSqrt;
        return Math.Max(0.0, value.item<double>());
    }
}
