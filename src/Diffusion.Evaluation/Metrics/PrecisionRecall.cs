using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>Fidelity and diversity of samples measured against reference features with k-NN balls.</summary>
/// <param name="Precision">Fraction of samples inside some reference point's k-NN ball (fidelity).</param>
/// <param name="Recall">Fraction of reference points inside some sample's k-NN ball (diversity).</param>
/// <param name="Density">Mean number of reference balls containing a sample, divided by k (≈ 1 for matching distributions; can exceed 1).</param>
/// <param name="Coverage">Fraction of reference balls that contain at least one sample.</param>
/// <param name="K">The k of the k-NN radii.</param>
/// <param name="ReferenceCount">Reference samples N.</param>
/// <param name="SampleCount">Generated samples M.</param>
/// <param name="Extractor">The feature extractor's name.</param>
public sealed record PrecisionRecallResult(double Precision, double Recall, double Density, double Coverage, int K,
    long ReferenceCount, long SampleCount, string Extractor) : IMetricResult
{
    /// <inheritdoc/>
    public IReadOnlyList<MetricValue> Values =>
    [
        new MetricValue("precision", Precision, null, ReferenceCount, SampleCount, Extractor),
        new MetricValue("recall", Recall, null, ReferenceCount, SampleCount, Extractor),
        new MetricValue("density", Density, null, ReferenceCount, SampleCount, Extractor),
        new MetricValue("coverage", Coverage, null, ReferenceCount, SampleCount, Extractor),
    ];
}

/// <summary>
/// Improved precision and recall (Kynkäänniemi et al. 2019, Eq. 1–3): each point's manifold ball has the
/// radius of its k-th nearest neighbour within its own set; precision counts samples inside the reference
/// manifold, recall reference points inside the sample manifold. Density and coverage (Naeem et al. 2020,
/// Eq. 3–4) use the reference balls only. Euclidean distances in float64, computed in row blocks so memory stays O(block · N).
/// </summary>
public static class PrecisionRecall
{
    private const int Block = 1024;

    /// <summary>Precision, recall, density and coverage of <paramref name="samples"/> (M, D) against <paramref name="reference"/> (N, D).</summary>
    /// <param name="reference">Reference (real) features.</param>
    /// <param name="samples">Generated features.</param>
    /// <param name="k">Neighbour rank defining the ball radii, 1 ≤ k &lt; min(N, M). Default 3.</param>
    /// <param name="extractor">The extractor's name, for the report. Default "features".</param>
    /// <param name="cancellationToken">Checked between row blocks.</param>
    /// <exception cref="DiffusionException">The matrices are malformed or differ in width, or k is out of range.</exception>
    public static PrecisionRecallResult Compute(Tensor reference, Tensor samples, int k = 3, string extractor = "features",
        CancellationToken cancellationToken = default)
    {
        using var scope = NewDisposeScope();
        var real = FeatureMatrix.AsFloat64(reference, "Reference features");
        var fake = FeatureMatrix.AsFloat64(samples, "Sample features");
        FeatureMatrix.SameWidth(real, fake);
        long n = real.shape[0], m = fake.shape[0];
        if (k < 1 || k >= Math.Min(n, m))
            throw new DiffusionException($"k must be in 1 … {Math.Min(n, m) - 1} for {n} reference and {m} sample points (got {k}).");

        var realRadii = KnnRadii(real, k, cancellationToken);   // (N)
        var fakeRadii = KnnRadii(fake, k, cancellationToken);   // (M)

        long inReal = 0, ballHits = 0;
        ForEachBlock(fake, real, cancellationToken, (_, d) =>                  // d: (b, N), sample rows vs reference points
        {
            var inside = d <= realRadii.unsqueeze(0);
            inReal += inside.any(1).sum().item<long>();
            ballHits += inside.sum().item<long>();
        });
        long inFake = 0, covered = 0;
        ForEachBlock(real, fake, cancellationToken, (start, d) =>              // d: (b, M), reference rows vs samples
        {
            inFake += (d <= fakeRadii.unsqueeze(0)).any(1).sum().item<long>();
            var nearest = d.min(1).values;                                      // (b)
            covered += (nearest <= realRadii.narrow(0, start, d.shape[0])).sum().item<long>();
        });
        return new PrecisionRecallResult((double)inReal / m, (double)inFake / n, (double)ballHits / ((double)k * m), (double)covered / n,
            k, n, m, extractor);
    }

    /// <summary>Distance from each row of <paramref name="x"/> to its k-th nearest other row.</summary>
    private static Tensor KnnRadii(Tensor x, int k, CancellationToken cancellationToken)
    {
        var radii = new List<Tensor>();
        // The smallest distance of each row is to itself (0), so the k-th neighbour is at position k.
        ForEachBlock(x, x, cancellationToken, (_, d) => radii.Add(d.topk(k + 1, dim: 1, largest: false).values.select(1, k).MoveToOuterDisposeScope()));
        return cat(radii, 0);
    }

    /// <summary>Calls <paramref name="body"/> with (first row, distances of rows [first, first + b) of <paramref name="a"/> to all rows of
    /// <paramref name="b"/>), each block in its own dispose scope so at most one block of distances is alive.</summary>
    private static void ForEachBlock(Tensor a, Tensor b, CancellationToken cancellationToken, Action<long, Tensor> body)
    {
        long n = a.shape[0];
        for (long start = 0; start < n; start += Block)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var step = NewDisposeScope();
            body(start, cdist(a.narrow(0, start, Math.Min(Block, n - start)), b));
        }
    }
}
