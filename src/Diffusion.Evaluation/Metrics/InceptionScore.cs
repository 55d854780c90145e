using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>An Inception Score: mean and spread over splits.</summary>
/// <param name="Mean">Mean of exp(E[KL]) over the splits; between 1 and K.</param>
/// <param name="Std">Standard deviation over the splits (population form, as in the reference code).</param>
/// <param name="Splits">Number of splits.</param>
/// <param name="SampleCount">Generated samples N.</param>
/// <param name="Extractor">Name of the classifier that gave the probabilities.</param>
public sealed record InceptionScoreResult(double Mean, double Std, int Splits, long SampleCount, string Extractor) : IMetricResult
{
    /// <inheritdoc/>
    public IReadOnlyList<MetricValue> Values => [new MetricValue("IS", Mean, Std, 0, SampleCount, Extractor)];
}

/// <summary>
/// Inception Score (Salimans et al. 2016, Sec. 4): IS = exp(E_x[KL(p(y|x) ‖ p(y))]) with p(y) the mean
/// prediction, computed on each of several consecutive splits of the samples, in float64. It is K when
/// every sample is classified with certainty and classes are equally frequent, and 1 when all predictions are equal.
/// </summary>
public static class InceptionScore
{
    /// <summary>IS from class probabilities (N, K) (rows on the simplex, e.g. <see cref="ClassifierFeatures.Probabilities"/>).</summary>
    /// <param name="probabilities">p(y|x) for each sample.</param>
    /// <param name="splits">Consecutive splits to average over, 1 … N. Default 10.</param>
    /// <param name="extractor">The classifier's name, for the report. Default "classifier".</param>
    /// <exception cref="DiffusionException">The rows are not probability vectors or the split count is out of range.</exception>
    public static InceptionScoreResult Compute(Tensor probabilities, int splits = 10, string extractor = "classifier")
    {
        using var scope = NewDisposeScope();
        var p = FeatureMatrix.AsFloat64(probabilities, "Class probabilities");
        long n = p.shape[0];
        if (splits < 1 || splits > n) throw new DiffusionException($"Inception Score splits must be in 1 … {n} (got {splits}).");
        if (p.min().item<double>() < 0 || (p.sum(1) - 1).abs().max().item<double>() > 1e-4)
            throw new DiffusionException("Inception Score needs probabilities (non-negative rows summing to 1); apply softmax to the logits.");

        var scores = new double[splits];
        for (int k = 0; k < splits; k++)
        {
            long start = k * n / splits, end = (k + 1) * n / splits;
            var part = p.narrow(0, start, end - start);                  // (n_k, K)
            var marginal = part.mean(new long[] { 0 }, keepdim: true);    // (1, K)
            var kl = (part.xlogy(part) - part.xlogy(marginal)).sum(1);   // (n_k); 0·log 0 = 0
            scores[k] = Math.Exp(kl.mean().item<double>());
        }
        double mean = scores.Average();
        double std = Math.Sqrt(scores.Select(v => (v - mean) * (v - mean)).Average());
        return new InceptionScoreResult(mean, std, splits, n, extractor);
    }
}
