using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Diffusion.Evaluation.Tests;

/// <summary>A cheap deterministic extractor for tests: 4 × 4 average-pooled pixels (49 features for 28 × 28 images);
/// counts the images it sees.</summary>
internal sealed class PooledPixels(string name = "pooled-pixels") : IFeatureExtractor
{
    public long Images { get; private set; }

    public string Name => name;

    public int Dimension => 49;

    public Tensor Extract(Tensor images, CancellationToken cancellationToken = default)
    {
        Images += images.shape[0];
        using var scope = NewDisposeScope();
        return F.avg_pool2d(images.to(ScalarType.Float64), 4).flatten(1).MoveToOuterDisposeScope();   // (N, 49)
    }
}

public sealed class ReferenceStatisticsTests
{
    private static readonly ReferenceKey Key = new("mnist", "test", "pooled-pixels", 200);

    [Fact]
    public void FeaturesAreComputedOnceThenReadFromTheCache()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var (x, _) = MnistFiles.Load("test", limit: 200);
        var extractor = new PooledPixels();
        int imageCalls = 0;
        Tensor Images() { imageCalls++; return x; }

        using var fresh = new ReferenceStatistics(dir).GetOrCompute(Key, extractor, Images, fingerprint: "abc");
        using var cached = new ReferenceStatistics(dir).GetOrCompute(Key, extractor, Images, fingerprint: "abc");

        Assert.Equal(1, imageCalls);
        Assert.Equal(200, extractor.Images);
        Assert.Equal("mnist-test-pooled-pixels-n200-seed0.safetensors", Key.FileName);
        Assert.True(File.Exists(Path.Combine(dir, Key.FileName)));
        Assert.Equal(new long[] { 200, 49 }, cached.Features.shape);
        Assert.True(ClassifierTests.Same(fresh.Features, cached.Features));
        Assert.Equal(fresh.Statistics.Mean, cached.Statistics.Mean);
        Assert.Equal(fresh.Statistics.Covariance, cached.Statistics.Covariance);
        Assert.Equal(200, cached.Statistics.Count);
        Assert.Equal("pooled-pixels", cached.Statistics.Extractor);
        // What the cache keeps is float32-rounded; the fresh result is rounded the same way, so both give identical metrics.
        Assert.True(ClassifierTests.Same(extractor.Extract(x).to(ScalarType.Float32).to(ScalarType.Float64), fresh.Features));
        // The file is also plain feature statistics.
        var statistics = FeatureStatistics.Load(Path.Combine(dir, Key.FileName));
        Assert.Equal(fresh.Statistics.Mean, statistics.Mean);
        Assert.Equal(200, statistics.Count);
    }

    [Fact]
    public void AnotherFingerprintOrACorruptFileIsRecomputed()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var store = new ReferenceStatistics(dir);
        var (x, _) = MnistFiles.Load("test", limit: 200);
        var extractor = new PooledPixels();

        store.GetOrCompute(Key, extractor, () => x, fingerprint: "weights-v1").Dispose();
        Assert.Null(store.TryLoad(Key, fingerprint: "weights-v2"));
        store.GetOrCompute(Key, extractor, () => x, fingerprint: "weights-v2").Dispose();
        Assert.Equal(400, extractor.Images);

        var path = store.PathFor(Key);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        Assert.Null(store.TryLoad(Key, fingerprint: "weights-v2"));
        using var recomputed = store.GetOrCompute(Key, extractor, () => x, fingerprint: "weights-v2");
        Assert.Equal(600, extractor.Images);
        using var reloaded = store.TryLoad(Key, fingerprint: "weights-v2");
        Assert.NotNull(reloaded);
        Assert.True(ClassifierTests.Same(recomputed.Features, reloaded.Features));
    }

    [Fact]
    public void MismatchedKeysAndImagesAreErrors()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var store = new ReferenceStatistics(dir);
        var (x, _) = MnistFiles.Load("test", limit: 200);

        var e = Assert.Throws<DiffusionException>(() => store.GetOrCompute(Key, new PooledPixels("other"), () => x));
        Assert.Contains("other", e.Message);
        e = Assert.Throws<DiffusionException>(() => store.GetOrCompute(Key, new PooledPixels(), () => x.narrow(0, 0, 150)));
        Assert.Contains("150", e.Message);
        Assert.Throws<DiffusionException>(() => new ReferenceKey("mnist", "../test", "pooled-pixels", 200));
        Assert.Throws<DiffusionException>(() => new ReferenceKey("mnist", "test", "", 200));
        Assert.Throws<DiffusionException>(() => new ReferenceKey("mnist", "test", "pooled-pixels", 1));
    }

    [Fact]
    public void LongExtractionsReportProgressPerChunkWithoutChangingTheFeatures()
    {
        using var scope = NewDisposeScope();
        var x = rand(new long[] { 2500, 1, 28, 28 }, generator: new Generator(1, CPU)) * 2 - 1;
        var messages = new List<string>();

        var chunked = ChunkedExtraction.Extract(new PooledPixels(), x, "features", new SyncProgress<string>(messages.Add), default);

        Assert.Equal(["features: 1024/2500 images", "features: 2048/2500 images", "features: 2500/2500 images"], messages);
        Assert.True(ClassifierTests.Same(new PooledPixels().Extract(x), chunked));
    }
}
