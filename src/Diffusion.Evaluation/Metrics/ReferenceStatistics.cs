using System.Globalization;
using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>Identifies one cached set of real-image features: which images (dataset, split, how many, which random
/// subset) went through which extractor.</summary>
public sealed record ReferenceKey
{
    /// <summary>Creates a key; every part must be safe in a file name.</summary>
    /// <param name="dataset">Dataset name, e.g. "mnist".</param>
    /// <param name="split">Split name, e.g. "test" or "train".</param>
    /// <param name="extractor">The feature extractor's <see cref="IFeatureExtractor.Name"/>.</param>
    /// <param name="count">Number of images N (≥ 2).</param>
    /// <param name="seed">Seed of the random subset (ignored by the data when N is the whole split, but part of the key).</param>
    /// <exception cref="DiffusionException">A name is empty or not file-name-safe, or N is below 2.</exception>
    public ReferenceKey(string dataset, string split, string extractor, int count, long seed = 0)
    {
        foreach (var (what, value) in new[] { ("dataset", dataset), ("split", split), ("extractor", extractor) })
            if (string.IsNullOrWhiteSpace(value) || value.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || value.StartsWith('.'))
                throw new DiffusionException($"'{value}' is not a valid {what} name for the reference statistics cache; use letters, digits, '-' or '_'.");
        if (count < 2) throw new DiffusionException($"Reference statistics need at least 2 images (got {count}).");
        (Dataset, Split, Extractor, Count, Seed) = (dataset, split, extractor, count, seed);
    }

    /// <summary>Dataset name.</summary>
    public string Dataset { get; }

    /// <summary>Split name.</summary>
    public string Split { get; }

    /// <summary>Extractor name.</summary>
    public string Extractor { get; }

    /// <summary>Number of images N.</summary>
    public int Count { get; }

    /// <summary>Seed of the random subset.</summary>
    public long Seed { get; }

    /// <summary>The cache file's name, e.g. <c>mnist-test-classifier-mnist-n10000-seed0.safetensors</c>.</summary>
    public string FileName => string.Create(CultureInfo.InvariantCulture, $"{Dataset}-{Split}-{Extractor}-n{Count}-seed{Seed}.safetensors");
}

/// <summary>Features of a set of real images with their statistics: what FID (μ, Σ), KID and precision/recall (the raw
/// features) compare samples with. Owns its feature tensor; dispose it.</summary>
public sealed class ReferenceFeatures : IDisposable
{
    private readonly Tensor _features;
    private bool _disposed;

    internal ReferenceFeatures(ReferenceKey key, Tensor features, FeatureStatistics statistics, string fingerprint)
    {
        Key = key;
        _features = features.DetachFromDisposeScope();
        Statistics = statistics;
        Fingerprint = fingerprint;
    }

    /// <summary>Which images and extractor.</summary>
    public ReferenceKey Key { get; }

    /// <summary>Mean and covariance of <see cref="Features"/>, float64.</summary>
    public FeatureStatistics Statistics { get; }

    /// <summary>The features, float64 (N, D) on the CPU, holding float32-rounded values (what the cache stores, so a
    /// fresh and a cached set give identical metrics). Owned by this object: don't dispose or modify.</summary>
    public Tensor Features { get { ObjectDisposedException.ThrowIf(_disposed, this); return _features; } }

    /// <summary>Identifies the extractor's weights (e.g. a hash of the classifier file); empty when not given.</summary>
    public string Fingerprint { get; }

    /// <summary>Frees the feature tensor.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _features.Dispose();
    }
}

/// <summary>
/// A folder of cached reference features, one safetensors file per <see cref="ReferenceKey"/> holding "mean" and
/// "covariance" (float64) and "features" (float32, N × D, for KID and precision/recall), with the key, the count and
/// the extractor's fingerprint as metadata (so <see cref="FeatureStatistics.Load"/> reads the statistics too). A file
/// whose metadata do not match (another extractor version, a changed classifier) or that is unreadable is recomputed
/// and replaced; files are written atomically.
/// </summary>
public sealed class ReferenceStatistics
{
    /// <summary>The format tag stored in every file.</summary>
    public const string Format = "diffusion.reference-features/1";

    /// <summary>A store in <paramref name="directory"/> (created on the first save).</summary>
    /// <exception cref="ArgumentException">The path is empty.</exception>
    public ReferenceStatistics(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory = Path.GetFullPath(directory);
    }

    /// <summary>The cache folder.</summary>
    public string Directory { get; }

    /// <summary>The first 16 hex digits of the file's SHA-256: pass it as the fingerprint of features made with the
    /// extractor weights in <paramref name="path"/>, so cached features are recomputed when the weights change.</summary>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static string FileFingerprint(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(stream))[..16].ToLowerInvariant();
    }

    /// <summary>Where the features of <paramref name="key"/> are cached.</summary>
    public string PathFor(ReferenceKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Path.Combine(Directory, key.FileName);
    }

    /// <summary>The cached features of <paramref name="key"/>, or null when there are none, they were made with another
    /// <paramref name="fingerprint"/>, or the file is unreadable.</summary>
    public ReferenceFeatures? TryLoad(ReferenceKey key, string fingerprint = "")
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(fingerprint);
        var path = PathFor(key);
        if (!File.Exists(path)) return null;
        using var scope = NewDisposeScope();
        Dictionary<string, Tensor> tensors;
        Dictionary<string, string> meta;
        try { (tensors, meta) = SafetensorsFile.Read(path); }
        catch (DiffusionException) { return null; }
        var expected = Metadata(key, fingerprint);
        if (expected.Any(kv => meta.GetValueOrDefault(kv.Key) != kv.Value)) return null;
        if (!tensors.TryGetValue("features", out var features) || !tensors.TryGetValue("mean", out var mean) || !tensors.TryGetValue("covariance", out var covariance))
            return null;
        long d = features.dim() == 2 ? features.shape[1] : -1;
        if (features.shape[0] != key.Count || d < 1 || mean.dtype != ScalarType.Float64 || !mean.shape.SequenceEqual(new[] { d })
            || covariance.dtype != ScalarType.Float64 || !covariance.shape.SequenceEqual(new[] { d, d }))
            return null;
        try
        {
            var statistics = new FeatureStatistics(mean.data<double>().ToArray(), FeatureStatistics.ToMatrix(covariance), key.Count, key.Extractor);
            return new ReferenceFeatures(key, features.to(ScalarType.Float64), statistics, fingerprint);
        }
        catch (DiffusionException)
        {
            return null;   // non-finite values: recompute
        }
    }

    /// <summary>
    /// The features of <paramref name="key"/> from the cache, or computed from <paramref name="images"/> with
    /// <paramref name="extractor"/> and cached.
    /// </summary>
    /// <param name="key">Which images; its extractor must be <paramref name="extractor"/>'s name.</param>
    /// <param name="extractor">The feature extractor.</param>
    /// <param name="images">Produces the N images (in [−1, 1]) when the cache misses; called at most once.</param>
    /// <param name="fingerprint">Identifies the extractor's weights; a cached file with another one is recomputed. Default "".</param>
    /// <param name="progress">Told when features are computed.</param>
    /// <param name="cancellationToken">Passed to the extractor.</param>
    /// <exception cref="DiffusionException">The key's extractor or count does not match, or the cache cannot be written.</exception>
    public ReferenceFeatures GetOrCompute(ReferenceKey key, IFeatureExtractor extractor, Func<Tensor> images, string fingerprint = "",
        IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(extractor);
        ArgumentNullException.ThrowIfNull(images);
        if (key.Extractor != extractor.Name)
            throw new DiffusionException($"Reference key names extractor '{key.Extractor}' but the extractor is '{extractor.Name}'.");
        if (TryLoad(key, fingerprint) is { } cached)
        {
            if (cached.Statistics.Dimension == extractor.Dimension) return cached;
            cached.Dispose();
        }

        var path = PathFor(key);
        progress?.Report($"computing {extractor.Name} features of {key.Count} {key.Dataset} {key.Split} images (cached in {path})");
        using var scope = NewDisposeScope();
        var x = images();
        if (x.dim() < 1 || x.shape[0] != key.Count)
            throw new DiffusionException($"Reference images for {key.FileName} number {(x.dim() < 1 ? 0 : x.shape[0])}, expected {key.Count}.");
        var stored = ChunkedExtraction.Extract(extractor, x, $"{extractor.Name} features of {key.Dataset} {key.Split}", progress, cancellationToken)
            .to(ScalarType.Float32);                                                                  // (N, D), what the file keeps
        var features = stored.to(ScalarType.Float64);
        var statistics = FeatureStatistics.FromFeatures(features, extractor.Name);
        var result = new ReferenceFeatures(key, features, statistics, fingerprint);
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            AtomicFile.Write(path, temp => SafetensorsFile.Write(temp,
                new Dictionary<string, Tensor> { ["mean"] = statistics.MeanTensor(), ["covariance"] = statistics.CovarianceTensor(), ["features"] = stored },
                Metadata(key, fingerprint)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            result.Dispose();
            throw new DiffusionException($"Cannot write reference statistics to '{path}': {e.Message}", e);
        }
        return result;
    }

    private static Dictionary<string, string> Metadata(ReferenceKey key, string fingerprint) => new()
    {
        ["format"] = Format,
        ["dataset"] = key.Dataset,
        ["split"] = key.Split,
        ["extractor"] = key.Extractor,
        ["count"] = key.Count.ToString(CultureInfo.InvariantCulture),
        ["seed"] = key.Seed.ToString(CultureInfo.InvariantCulture),
        ["fingerprint"] = fingerprint,
    };
}
