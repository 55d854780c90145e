using Diffusion.Core;
using Diffusion.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>
/// Computes FID, KID, precision/recall and the Inception Score of N generated images, each with its floor: FID, KID
/// and precision/recall compare the samples' features with those of N test images, and the floor compares N train
/// images with the same N test images (same extractor, same N); the Inception Score's floor is the score of the N test
/// images. Real-image features are cached in a <see cref="ReferenceStatistics"/> store per (dataset, split, extractor,
/// N), and kept in memory with the floors for the evaluator's lifetime, so evaluating several guidance scales computes
/// them once. Not thread-safe.
/// </summary>
public sealed class SampleEvaluator : IDisposable
{
    private readonly Dictionary<(DatasetSplit, int), ReferenceFeatures> _references = new();
    private readonly Dictionary<(string, int), IMetricResult> _floors = new();
    private bool _disposed;

    /// <summary>Sets up the evaluator.</summary>
    /// <param name="real">The dataset's train and test images.</param>
    /// <param name="store">Where real-image features are cached.</param>
    /// <param name="features">The extractor for FID, KID and precision/recall; null when only the Inception Score is wanted.</param>
    /// <param name="classifier">The dataset's classifier, for the Inception Score; null when it is not wanted.</param>
    /// <param name="options">Metric options; null uses the defaults.</param>
    /// <param name="featuresFingerprint">Identifies <paramref name="features"/>' weights in the cache (e.g. a hash of
    /// the classifier file), so a changed extractor never reuses stale statistics. Default "".</param>
    public SampleEvaluator(RealImages real, ReferenceStatistics store, IFeatureExtractor? features, ClassifierFeatures? classifier = null,
        SampleMetricsOptions? options = null, string featuresFingerprint = "")
    {
        Real = real ?? throw new ArgumentNullException(nameof(real));
        Store = store ?? throw new ArgumentNullException(nameof(store));
        Features = features;
        Classifier = classifier;
        Options = options ?? new SampleMetricsOptions();
        FeaturesFingerprint = featuresFingerprint ?? throw new ArgumentNullException(nameof(featuresFingerprint));
    }

    /// <summary>The real images.</summary>
    public RealImages Real { get; }

    /// <summary>The feature cache.</summary>
    public ReferenceStatistics Store { get; }

    /// <summary>The extractor for FID, KID and precision/recall, if any.</summary>
    public IFeatureExtractor? Features { get; }

    /// <summary>The classifier for the Inception Score, if any.</summary>
    public ClassifierFeatures? Classifier { get; }

    /// <summary>The metric options.</summary>
    public SampleMetricsOptions Options { get; }

    /// <summary>The extractor's fingerprint in the cache.</summary>
    public string FeaturesFingerprint { get; }

    /// <summary>The requested metrics of <paramref name="samples"/>, each paired with its floor, in the order of
    /// <see cref="MetricNames.All"/>.</summary>
    /// <param name="samples">Generated images (N, C, S, S) in [−1, 1], N at most the size of each real split.</param>
    /// <param name="metrics">Any of <see cref="MetricNames.Fid"/>, <see cref="MetricNames.Kid"/>,
    /// <see cref="MetricNames.PrecisionRecall"/>, <see cref="MetricNames.InceptionScore"/> (class accuracy needs the
    /// requested labels: see <see cref="ClassAccuracy"/>).</param>
    /// <param name="progress">Told what is being computed.</param>
    /// <param name="cancellationToken">Checked between batches and subsets.</param>
    /// <exception cref="DiffusionException">A metric is unknown or lacks its extractor, or N does not fit the real splits.</exception>
    public IReadOnlyList<FlooredResult> Evaluate(Tensor samples, IReadOnlyCollection<string> metrics, IProgress<string>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(metrics);
        foreach (var m in metrics)
            if (!MetricNames.All.Contains(m) || m == MetricNames.Accuracy)
                throw new DiffusionException($"The sample evaluator computes {string.Join(", ", MetricNames.All.Where(n => n != MetricNames.Accuracy))}; got '{m}'.");
        if (samples.dim() != 4)
            throw new DiffusionException($"Samples must be images (N, C, H, W), got shape ({string.Join(", ", samples.shape)}).");
        int n = checked((int)samples.shape[0]);
        bool wantFeatures = MetricNames.FeatureMetrics.Any(metrics.Contains);
        if (wantFeatures && Features is null)
            throw new DiffusionException("FID, KID and precision/recall need a feature extractor.");
        if (metrics.Contains(MetricNames.InceptionScore) && Classifier is null)
            throw new DiffusionException("The Inception Score needs the dataset's classifier.");
        if (metrics.Count > 0) CheckCount(n, wantFeatures);

        using var scope = NewDisposeScope();
        var results = new List<FlooredResult>();
        if (wantFeatures)
        {
            var extractor = Features!;
            var reference = Reference(DatasetSplit.Test, n, progress, cancellationToken);
            var standIn = Reference(DatasetSplit.Train, n, progress, cancellationToken);
            progress?.Report($"extracting {extractor.Name} features of {n} samples");
            var sampleFeatures = ChunkedExtraction.Extract(extractor, samples, $"{extractor.Name} features of the samples", progress, cancellationToken);
            if (metrics.Contains(MetricNames.Fid))
            {
                progress?.Report("FID");
                var statistics = FeatureStatistics.FromFeatures(sampleFeatures, extractor.Name);
                results.Add(new FlooredResult(FrechetDistance.Compute(reference.Statistics, statistics),
                    Floor(MetricNames.Fid, n, () => FrechetDistance.Compute(reference.Statistics, standIn.Statistics))));
            }
            if (metrics.Contains(MetricNames.Kid))
            {
                progress?.Report("KID");
                IMetricResult Kid(Tensor x) => KernelInceptionDistance.Compute(reference.Features, x, Options.KidSubsets, Options.KidSubsetSize,
                    Options.Seed, extractor.Name, cancellationToken);
                results.Add(new FlooredResult(Kid(sampleFeatures), Floor(MetricNames.Kid, n, () => Kid(standIn.Features))));
            }
            if (metrics.Contains(MetricNames.PrecisionRecall))
            {
                progress?.Report("precision/recall");
                IMetricResult Pr(Tensor x) => PrecisionRecall.Compute(reference.Features, x, Options.PrecisionRecallK, extractor.Name, cancellationToken);
                results.Add(new FlooredResult(Pr(sampleFeatures), Floor(MetricNames.PrecisionRecall, n, () => Pr(standIn.Features))));
            }
        }
        if (metrics.Contains(MetricNames.InceptionScore))
        {
            var classifier = Classifier!;
            progress?.Report($"Inception Score with {classifier.Name}");
            IMetricResult Score(Tensor images) => InceptionScore.Compute(classifier.Probabilities(images, cancellationToken), Options.InceptionScoreSplits, classifier.Name);
            var value = Score(samples);
            results.Add(new FlooredResult(value, Floor(MetricNames.InceptionScore, n, () =>
            {
                using var inner = NewDisposeScope();
                return Score(Real.Subset(DatasetSplit.Test, n, Options.Seed));
            })));
        }
        return results;
    }

    /// <summary>Frees the cached real-image features.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var r in _references.Values) r.Dispose();
        _references.Clear();
    }

    /// <summary>Throws the error <see cref="Evaluate"/> would give for <paramref name="n"/> samples, so a caller can
    /// check before spending time on sampling.</summary>
    /// <exception cref="DiffusionException">N does not fit the real splits these metrics compare against.</exception>
    public void CheckSampleCount(int n, IReadOnlyCollection<string> metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        CheckCount(n, MetricNames.FeatureMetrics.Any(metrics.Contains));
    }

    private void CheckCount(int n, bool wantFeatures)
    {
        int test = Real.Test.Count, train = Real.Train.Count;
        int limit = wantFeatures ? Math.Min(test, train) : test;
        if (n < 2 || n > limit)
            throw new DiffusionException(
                $"The metrics compare N samples with N real test images{(wantFeatures ? " and report a floor from N train images" : "")}, so N must be in 2 … {limit} " +
                $"for '{Real.Dataset}' ({test} test, {train} train images); got N = {n}. Change the number of samples.");
    }

    private ReferenceFeatures Reference(DatasetSplit split, int n, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        if (_references.TryGetValue((split, n), out var cached)) return cached;
        var extractor = Features!;
        var key = Real.Key(split, extractor.Name, n, Options.Seed);
        var features = Store.GetOrCompute(key, extractor, () => Real.Subset(split, n, Options.Seed), FeaturesFingerprint, progress, cancellationToken);
        _references[(split, n)] = features;
        return features;
    }

    private IMetricResult Floor(string metric, int n, Func<IMetricResult> compute)
    {
        if (!_floors.TryGetValue((metric, n), out var floor)) _floors[(metric, n)] = floor = compute();
        return floor;
    }
}
