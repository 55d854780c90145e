using Diffusion.Core;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Diffusion.Evaluation.Tests;

public sealed class ClassifierTests
{
    // Widths are multiples of 16: narrower oneDNN convolutions are not deterministic on CPU (docs/known-issues.md).
    private static readonly ClassifierOptions Tiny = new() { BaseWidth = 16, FeatureDim = 16 };

    private static Tensor Images(long n, ulong seed, int channels = 1, int size = 28)
        => rand(new long[] { n, channels, size, size }, generator: new Generator(seed, CPU)) * 2 - 1;

    internal static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    [Fact]
    public void ShapesFollowTheOptions()
    {
        using var scope = NewDisposeScope();
        var gray = new Classifier(Tiny);
        var rgb = new Classifier(new ClassifierOptions { Channels = 3, ImageSize = 32, Classes = 7, BaseWidth = 16, FeatureDim = 20 });

        Assert.Equal(new long[] { 5, 10 }, gray.call(Images(5, 0)).shape);
        Assert.Equal(new long[] { 5, 16 }, gray.Features(Images(5, 0)).shape);
        Assert.Equal(new long[] { 3, 7 }, rgb.call(Images(3, 0, 3, 32)).shape);
        Assert.Equal(new long[] { 3, 20 }, rgb.Features(Images(3, 0, 3, 32)).shape);
    }

    [Fact]
    public void WrongImagesAndOptionsAreRejectedWithDiffusionException()
    {
        using var scope = NewDisposeScope();
        var c = new Classifier(Tiny);
        Assert.Throws<DiffusionException>(() => c.call(Images(2, 0, 3, 28)));
        Assert.Throws<DiffusionException>(() => c.call(Images(2, 0, 1, 32)));
        Assert.Throws<DiffusionException>(() => c.Preprocess(zeros(new long[] { 2, 1, 28, 28 }, ScalarType.Byte)));
        Assert.Throws<DiffusionException>(() => new ClassifierOptions { Classes = 1 });
        Assert.Throws<DiffusionException>(() => new ClassifierTrainingOptions { BatchSize = 1 });
        Assert.Throws<DiffusionException>(() => ClassAccuracy.Evaluate(c, Images(2, 0), tensor(new long[] { 0, 10 })));
        Assert.Throws<DiffusionException>(() => ClassAccuracy.Evaluate(c, Images(2, 0), tensor(new long[] { 0 })));
    }

    [Fact]
    public void TheSameGeneratorSeedGivesTheSameWeights()
    {
        using var scope = NewDisposeScope();
        var a = new Classifier(Tiny, new Generator(5, CPU));
        var b = new Classifier(Tiny, new Generator(5, CPU));
        var c = new Classifier(Tiny, new Generator(6, CPU));
        var x = Images(4, 1);
        a.eval(); b.eval(); c.eval();

        Assert.True(Same(a.call(x), b.call(x)));
        Assert.False(Same(a.call(x), c.call(x)));
    }

    [Fact]
    public void EvaluationRunsInEvalModeAndLeavesBatchNormStatisticsAlone()
    {
        using var scope = NewDisposeScope();
        var c = new Classifier(Tiny);
        c.train();
        var before = c.named_buffers().ToDictionary(b => b.name, b => b.buffer.clone());
        var images = Images(40, 2);

        new ClassifierFeatures(c, "tiny", batchSize: 16).Extract(images);
        ClassAccuracy.Evaluate(c, images, zeros(40, ScalarType.Int64), batchSize: 16);

        Assert.True(c.training);   // the caller's mode is restored
        foreach (var (name, buffer) in c.named_buffers())
            Assert.True(Same(buffer, before[name]), $"buffer {name} changed");
    }

    [Fact]
    public void ResultsDoNotDependOnTheBatchSize()
    {
        using var scope = NewDisposeScope();
        var c = new Classifier(Tiny);
        var images = Images(37, 3);

        var f7 = new ClassifierFeatures(c, "tiny", batchSize: 7).Extract(images);
        var f64 = new ClassifierFeatures(c, "tiny", batchSize: 64).Extract(images);

        Assert.Equal(new long[] { 37, 16 }, f7.shape);
        Assert.Equal(ScalarType.Float64, f7.dtype);
        Assert.True(f7.allclose(f64, rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void RealAndGeneratedImagesShareOnePreprocessingPath()
    {
        using var scope = NewDisposeScope();
        var c = new Classifier(Tiny);
        var extractor = new ClassifierFeatures(c, "tiny");
        var real = Images(20, 4);
        // A sampler's output: float64 and overshooting [−1, 1] by a little.
        var generated = (real.to(ScalarType.Float64) * 1.2).DetachFromDisposeScope();

        var fromRealPath = FeatureStatistics.FromImages(extractor, real.clamp(-1, 1) * 1.0);
        var fromGeneratedPath = FeatureStatistics.FromImages(extractor, generated);
        var clamped = c.Preprocess(generated);

        Assert.Equal(ScalarType.Float32, clamped.dtype);
        Assert.True(clamped.max().item<float>() <= 1f && clamped.min().item<float>() >= -1f);
        Assert.True(extractor.Extract(generated).allclose(extractor.Extract(clamped), rtol: 0, atol: 0));
        Assert.Equal(fromGeneratedPath.Dimension, fromRealPath.Dimension);
        Assert.True(FrechetDistance.Compute(fromGeneratedPath, FeatureStatistics.FromImages(extractor, clamped)).Value < 1e-9);
    }

    [Fact]
    public void SaveAndLoadGiveIdenticalLogits()
    {
        using var scope = NewDisposeScope();
        var c = new Classifier(Tiny, new Generator(11, CPU));
        using (no_grad())
            foreach (var (_, buffer) in c.named_buffers())
                if (buffer.is_floating_point()) buffer.uniform_(0.5, 1.5);   // non-default running statistics
        c.eval();
        using var dir = new TempDir();
        ClassifierStore.Save(c, dir);
        var loaded = ClassifierStore.Load(dir);
        var x = Images(8, 5);

        Assert.Equal(c.Options, loaded.Options);
        Assert.False(loaded.training);
        Assert.True(Same(c.call(x), loaded.call(x)));
    }

    [Fact]
    public void LoadingWeightsWithMissingTensorsNamesThem()
    {
        using var scope = NewDisposeScope();
        var c = new Classifier(Tiny);
        using var dir = new TempDir();
        ClassifierStore.Save(c, dir);
        c.save_safetensors(Path.Combine(dir, ClassifierStore.WeightsFile), skip: ["head.bias", "bn2.running_var"]);

        var e = Assert.Throws<DiffusionException>(() => ClassifierStore.Load(dir));

        Assert.Contains("head.bias", e.Message);
        Assert.Contains("bn2.running_var", e.Message);
        Assert.DoesNotContain("conv1.weight", e.Message);
    }

    [Fact]
    public void LoadingCorruptedFilesThrowsDiffusionException()
    {
        using var dir = new TempDir();
        Assert.Throws<DiffusionException>(() => ClassifierStore.Load(dir));
        File.WriteAllText(Path.Combine(dir, ClassifierStore.OptionsFile), "{ \"classes\": 0 }");
        Assert.Throws<DiffusionException>(() => ClassifierStore.Load(dir));
        File.WriteAllText(Path.Combine(dir, ClassifierStore.OptionsFile), "{ \"classes\": 10 }");
        File.WriteAllBytes(Path.Combine(dir, ClassifierStore.WeightsFile), new byte[64]);
        Assert.Throws<DiffusionException>(() => ClassifierStore.Load(dir));
    }

    [Fact]
    public void OptionsRoundTripThroughJson()
    {
        var options = new ClassifierTrainingOptions { Epochs = 2, LearningRate = 1e-3, Model = new ClassifierOptions { Channels = 3, ImageSize = 32 } };
        var json = System.Text.Json.JsonSerializer.Serialize(options);
        Assert.Equal(options, System.Text.Json.JsonSerializer.Deserialize<ClassifierTrainingOptions>(json));
    }

    [Fact]
    public void ClassAccuracyCountsPerClassAndFormatsMarkdown()
    {
        using var scope = NewDisposeScope();
        var c = new Classifier(Tiny);
        c.eval();
        var images = Images(30, 6);
        Tensor predicted;
        using (no_grad()) predicted = c.call(images).argmax(1);
        var wrong = (predicted + 1) % 10;
        var labels = cat(new[] { predicted.narrow(0, 0, 20), wrong.narrow(0, 20, 10) }, 0);
        var names = Enumerable.Range(0, 10).Select(i => $"digit {i}").ToArray();

        var r = ClassAccuracy.Evaluate(c, images, labels, names, batchSize: 8);

        Assert.Equal(30, r.Count);
        Assert.Equal(20.0 / 30, r.Accuracy, 12);
        Assert.Equal(30, r.PerClass.Sum(e => e.Count));
        Assert.Equal(20, r.PerClass.Sum(e => e.Correct));
        Assert.Equal(30, r.Confusion.Sum(row => row.Sum()));
        var md = r.ToMarkdown();
        Assert.Contains("| digit 3 |", md);
        Assert.Contains("| **all** | 30 | 20 | **66.67 %** |", md);
    }

    [Fact]
    public void RandomShiftTranslatesEachImageWithinTheMargin()
    {
        using var scope = NewDisposeScope();
        var x = full(new long[] { 16, 1, 8, 8 }, -1f);
        x[TensorIndex.Colon, 0, 3, 4] = 1f;                // one bright pixel per image at (3, 4)

        var y = RandomShift.Apply(x, 2, -1.0, new Generator(0, CPU));

        Assert.Equal(x.shape, y.shape);
        var seen = new HashSet<(long, long)>();
        for (int i = 0; i < 16; i++)
        {
            var bright = y[i, 0].gt(0).nonzero();
            Assert.Equal(1, bright.shape[0]);
            long r = bright[0, 0].item<long>(), col = bright[0, 1].item<long>();
            Assert.InRange(r, 1, 5);
            Assert.InRange(col, 2, 6);
            seen.Add((r, col));
        }
        Assert.True(seen.Count > 3, "shifts should differ between images");
    }

    [Fact]
    public void EvaluationDoesNotLeakTensors()
    {
        var c = new Classifier(Tiny);
        var images = Images(50, 7);
        var labels = zeros(50, ScalarType.Int64);
        ClassAccuracy.Evaluate(c, images, labels, batchSize: 16);
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        for (int i = 0; i < 3; i++) ClassAccuracy.Evaluate(c, images, labels, batchSize: 16);
        using (var features = new ClassifierFeatures(c, "tiny", 16).Extract(images)) { }

        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
