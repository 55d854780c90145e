using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>A kernel (inception) distance: the unbiased MMD² averaged over random subsets.</summary>
/// <param name="Mean">Mean of MMD² over the subsets.</param>
/// <param name="Std">Standard deviation of MMD² over the subsets (population form, as in the reference code).</param>
/// <param name="Subsets">Number of subsets drawn.</param>
/// <param name="SubsetSize">Samples m drawn from each side for each subset.</param>
/// <param name="ReferenceCount">Reference samples available.</param>
/// <param name="SampleCount">Generated samples available.</param>
/// <param name="Extractor">The feature extractor's name.</param>
public sealed record KernelInceptionDistanceResult(double Mean, double Std, int Subsets, int SubsetSize, long ReferenceCount, long SampleCount, string Extractor) : IMetricResult
{
    /// <inheritdoc/>
    public IReadOnlyList<MetricValue> Values => [new MetricValue("KID", Mean, Std, ReferenceCount, SampleCount, Extractor)];
}

/// <summary>
/// KID (Bińkowski et al. 2018, Sec. 3): the unbiased estimator of the squared maximum mean discrepancy
/// with the polynomial kernel k(x, y) = (xᵀy / D + 1)³, over random subsets drawn without replacement,
/// computed in float64. Unlike FID it is unbiased, so it can be compared across sample counts and is
/// ≈ 0 (possibly slightly negative) for samples from the same distribution.
/// </summary>
public static class KernelInceptionDistance
{
    /// <summary>KID between reference features (N, D) and sample features (M, D).</summary>
    /// <param name="reference">Reference (real) features.</param>
    /// <param name="samples">Generated features.</param>
    /// <param name="subsets">Number of random subsets. Default 100.</param>
    /// <param name="subsetSize">Samples per subset from each side, capped at min(N, M). Default 1000.</param>
    /// <param name="seed">Seed for drawing the subsets. Default 0.</param>
    /// <param name="extractor">The extractor's name, for the report. Default "features".</param>
    /// <param name="cancellationToken">Checked between subsets.</param>
    /// <exception cref="DiffusionException">The matrices are malformed or differ in width, a count is below 2, or an option is out of range.</exception>
    public static KernelInceptionDistanceResult Compute(Tensor reference, Tensor samples, int subsets = 100, int subsetSize = 1000,
        long seed = 0, string extractor = "features", CancellationToken cancellationToken = default)
    {
        if (subsets < 1) throw new DiffusionException($"KID needs at least one subset (got {subsets}).");
        if (subsetSize < 2) throw new DiffusionException($"KID subsets need at least 2 samples (got {subsetSize}).");
        using var scope = NewDisposeScope();
        var x = FeatureMatrix.AsFloat64(reference, "Reference features", minRows: 2);
        var y = FeatureMatrix.AsFloat64(samples, "Sample features", minRows: 2);
        FeatureMatrix.SameWidth(x, y);
        long n = x.shape[0], m = y.shape[0];
        int size = (int)Math.Min(subsetSize, Math.Min(n, m));
        double d = x.shape[1];
        var generator = new Generator((ulong)seed, CPU);

        var values = new double[subsets];
        for (int s = 0; s < subsets; s++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var step = NewDisposeScope();
            var a = x.index_select(0, randperm(n, generator: generator).narrow(0, 0, size));   // (m, D)
            var b = y.index_select(0, randperm(m, generator: generator).narrow(0, 0, size));   // (m, D)
            values[s] = UnbiasedMmd2(a, b, d);
        }
        double mean = values.Average();
        double std = Math.Sqrt(values.Select(v => (v - mean) * (v - mean)).Average());
        return new KernelInceptionDistanceResult(mean, std, subsets, size, n, m, extractor);
    }

    /// <summary>Unbiased MMD²: mean of k over distinct pairs within each set, minus twice the mean over cross pairs.</summary>
    private static double UnbiasedMmd2(Tensor a, Tensor b, double d)
    {
        long m = a.shape[0];
        var kxx = (a.mm(a.T) / d + 1).pow(3);   // (m, m)
        var kyy = (b.mm(b.T) / d + 1).pow(3);   // (m, m)
        var kxy = (a.mm(b.T) / d + 1).pow(3);   // (m, m)
        var within = (kxx.sum() - kxx.trace() + kyy.sum() - kyy.trace()) / (m * (m - 1.0));
        return (within - 2 * kxy.sum() / (m * (double)m)).item<double>();
    }
}
