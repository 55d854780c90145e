using System.Globalization;
using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>
/// Mean and covariance of a set of feature vectors, in float64: what FID compares. Reference statistics
/// of a dataset are costly to compute, so they can be saved (safetensors with the count and extractor name
/// as metadata) and loaded back.
/// </summary>
public sealed class FeatureStatistics
{
    /// <summary>Creates statistics from their parts (copied).</summary>
    /// <param name="mean">The mean feature vector, length D.</param>
    /// <param name="covariance">The unbiased covariance, D × D, symmetric.</param>
    /// <param name="count">Number of feature vectors N they were computed from (≥ 2).</param>
    /// <param name="extractor">Name of the extractor that produced the features.</param>
    /// <exception cref="DiffusionException">The sizes disagree, the count is below 2, or the values are not finite.</exception>
    public FeatureStatistics(double[] mean, double[,] covariance, long count, string extractor)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(covariance);
        ArgumentNullException.ThrowIfNull(extractor);
        int d = mean.Length;
        if (d == 0 || covariance.GetLength(0) != d || covariance.GetLength(1) != d)
            throw new DiffusionException($"Feature statistics need a mean of length D ≥ 1 and a D × D covariance, got {d} and {covariance.GetLength(0)} × {covariance.GetLength(1)}.");
        if (count < 2) throw new DiffusionException($"Feature statistics need at least 2 samples (got {count}).");
        if (mean.Any(v => !double.IsFinite(v)) || covariance.Cast<double>().Any(v => !double.IsFinite(v)))
            throw new DiffusionException("Feature statistics contain NaN or infinite values.");
        Mean = (double[])mean.Clone();
        Covariance = (double[,])covariance.Clone();
        Count = count;
        Extractor = extractor;
    }

    /// <summary>The mean feature vector μ, length D.</summary>
    public double[] Mean { get; }

    /// <summary>The unbiased covariance Σ = Σᵢ (xᵢ − μ)(xᵢ − μ)ᵀ / (N − 1), D × D.</summary>
    public double[,] Covariance { get; }

    /// <summary>Number N of feature vectors.</summary>
    public long Count { get; }

    /// <summary>Name of the extractor that produced the features.</summary>
    public string Extractor { get; }

    /// <summary>Feature size D.</summary>
    public int Dimension => Mean.Length;

    /// <summary>Statistics of a feature matrix (N ≥ 2, D), computed in float64.</summary>
    /// <exception cref="DiffusionException">The matrix has fewer than two rows or non-finite values.</exception>
    public static FeatureStatistics FromFeatures(Tensor features, string extractor)
    {
        using var scope = NewDisposeScope();
        var x = FeatureMatrix.AsFloat64(features, "Features", minRows: 2);
        long n = x.shape[0];
        var mu = x.mean(new long[] { 0 });                       // (D)
        var centered = x - mu;                                    // (N, D)
        var sigma = centered.T.mm(centered) / (n - 1);            // (D, D)
        sigma = (sigma + sigma.T) / 2;
        return new FeatureStatistics(mu.data<double>().ToArray(), ToMatrix(sigma), n, extractor);
    }

    /// <summary>Extracts features of <paramref name="images"/> with <paramref name="extractor"/> and summarises them.</summary>
    /// <exception cref="DiffusionException">The images do not fit the extractor, or there are fewer than two.</exception>
    public static FeatureStatistics FromImages(IFeatureExtractor extractor, Tensor images, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(extractor);
        using var scope = NewDisposeScope();
        return FromFeatures(extractor.Extract(images, cancellationToken), extractor.Name);
    }

    /// <summary>μ as a float64 tensor (D), owned by the caller's dispose scope.</summary>
    public Tensor MeanTensor() => tensor(Mean, ScalarType.Float64);

    /// <summary>Σ as a float64 tensor (D, D), owned by the caller's dispose scope.</summary>
    public Tensor CovarianceTensor() => tensor(Covariance, ScalarType.Float64);

    /// <summary>Writes the statistics to <paramref name="path"/> as safetensors ("mean", "covariance"; count and extractor as metadata),
    /// through a temporary file so a crash never leaves a half-written file.</summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var scope = NewDisposeScope();
        AtomicFile.Write(path, temp => SafetensorsFile.Write(temp,
            new Dictionary<string, Tensor> { ["mean"] = MeanTensor(), ["covariance"] = CovarianceTensor() },
            new Dictionary<string, string> { ["count"] = Count.ToString(CultureInfo.InvariantCulture), ["extractor"] = Extractor, ["format"] = "diffusion.feature-statistics/1" }));
    }

    /// <summary>Reads statistics written by <see cref="Save"/>.</summary>
    /// <exception cref="DiffusionException">The file is missing, corrupted, or not feature statistics.</exception>
    public static FeatureStatistics Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new DiffusionException($"Feature statistics file '{path}' does not exist; compute the reference statistics first.");
        using var scope = NewDisposeScope();
        var (tensors, metadata) = SafetensorsFile.Read(path);
        if (!tensors.TryGetValue("mean", out var mean) || !tensors.TryGetValue("covariance", out var covariance)
            || !metadata.TryGetValue("count", out var countText) || !long.TryParse(countText, CultureInfo.InvariantCulture, out long count)
            || mean.dtype != ScalarType.Float64 || covariance.dtype != ScalarType.Float64 || mean.dim() != 1 || covariance.dim() != 2)
            throw new DiffusionException($"'{path}' does not hold feature statistics (float64 'mean' and 'covariance' and a 'count'). Delete it and recompute.");
        return new FeatureStatistics(mean.data<double>().ToArray(), ToMatrix(covariance), count, metadata.GetValueOrDefault("extractor", ""));
    }

    /// <summary>A float64 (R, C) tensor as a host matrix.</summary>
    internal static double[,] ToMatrix(Tensor t)
    {
        var flat = t.contiguous().data<double>().ToArray();
        var m = new double[t.shape[0], t.shape[1]];
        Buffer.BlockCopy(flat, 0, m, 0, flat.Length * sizeof(double));
        return m;
    }
}
