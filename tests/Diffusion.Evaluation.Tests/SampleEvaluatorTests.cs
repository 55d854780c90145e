using Diffusion.Core;
using Diffusion.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation.Tests;

public sealed class SampleEvaluatorTests : IDisposable
{
    private readonly ImageDataset _train = MnistFiles.Dataset("train", 600);
    private readonly ImageDataset _test = MnistFiles.Dataset("test", 300);
    private readonly TempDir _cache = new();

    public void Dispose()
    {
        _train.Dispose();
        _test.Dispose();
        _cache.Dispose();
    }

    private SampleEvaluator Evaluator(PooledPixels extractor, ClassifierFeatures? classifier = null, SampleMetricsOptions? options = null)
        => new(new RealImages("mnist", _train, _test), new ReferenceStatistics(_cache), extractor, classifier,
            options ?? new SampleMetricsOptions { KidSubsets = 10, KidSubsetSize = 100 }, featuresFingerprint: "test");

    /// <summary>200 real digits the evaluator has not seen (train images 800 … 999).</summary>
    private static Tensor HeldOutDigits() => MnistFiles.Load("train", limit: 1000).Images.narrow(0, 800, 200);

    [Fact]
    public void EveryFeatureMetricCarriesAFloorOfTheSameSizeAndExtractor()
    {
        using var scope = NewDisposeScope();
        using var evaluator = Evaluator(new PooledPixels());

        var results = evaluator.Evaluate(HeldOutDigits(), [MetricNames.Fid, MetricNames.Kid, MetricNames.PrecisionRecall]);

        Assert.Equal(3, results.Count);
        Assert.IsType<FrechetDistanceResult>(results[0].Result);
        Assert.IsType<KernelInceptionDistanceResult>(results[1].Result);
        Assert.IsType<PrecisionRecallResult>(results[2].Result);
        var values = results.SelectMany(r => r.Values).ToList();
        Assert.Equal(["FID", "KID", "precision", "recall", "density", "coverage"], values.Select(v => v.Metric));
        Assert.All(values, v =>
        {
            Assert.Equal(200, v.SampleCount);
            Assert.Equal(200, v.ReferenceCount);
            Assert.Equal("pooled-pixels", v.Extractor);
            Assert.NotNull(v.Floor);
        });
        var floor = (FrechetDistanceResult)results[0].Floor;
        Assert.Equal((200L, 200L), (floor.ReferenceCount, floor.SampleCount));
        var table = MetricReport.ToMarkdown(results);
        Assert.Contains("| FID |", table);
        Assert.Contains("floor (real vs real)", table);
    }

    [Fact]
    public void RealDigitsScoreLikeTheFloorAndNoiseFarWorse()
    {
        using var scope = NewDisposeScope();
        using var evaluator = Evaluator(new PooledPixels());
        var noise = rand(new long[] { 200, 1, 28, 28 }, generator: new Generator(0, CPU)) * 2 - 1;

        var real = evaluator.Evaluate(HeldOutDigits(), [MetricNames.Fid, MetricNames.PrecisionRecall]);
        var fake = evaluator.Evaluate(noise, [MetricNames.Fid, MetricNames.PrecisionRecall]);

        double fidFloor = real[0].Values[0].Floor!.Value;
        Assert.InRange(real[0].Values[0].Value / fidFloor, 0.5, 2.0);
        Assert.True(fake[0].Values[0].Value > 20 * fidFloor, $"noise FID {fake[0].Values[0].Value} vs floor {fidFloor}");
        Assert.Equal(fidFloor, fake[0].Values[0].Floor);                        // the floor depends on N, not on the samples
        Assert.True(real[1].Values[0].Value > 0.5);                              // precision of real digits
        Assert.True(fake[1].Values[0].Value < 0.05);                             // precision of noise
    }

    [Fact]
    public void RealImageFeaturesAreExtractedOnceAndCachedOnDisk()
    {
        using var scope = NewDisposeScope();
        var extractor = new PooledPixels();
        var samples = HeldOutDigits();
        using (var evaluator = Evaluator(extractor))
        {
            evaluator.Evaluate(samples, [MetricNames.Fid]);
            evaluator.Evaluate(samples, [MetricNames.Fid, MetricNames.Kid]);
        }
        Assert.Equal(200 + 200 + 2 * 200, extractor.Images);                  // test and train references once, samples twice
        Assert.True(File.Exists(Path.Combine(_cache, "mnist-test-pooled-pixels-n200-seed0.safetensors")));
        Assert.True(File.Exists(Path.Combine(_cache, "mnist-train-pooled-pixels-n200-seed0.safetensors")));

        var again = new PooledPixels();
        using (var evaluator = Evaluator(again))
            evaluator.Evaluate(samples, [MetricNames.Fid]);
        Assert.Equal(200, again.Images);                                        // only the samples
    }

    [Fact]
    public void TheInceptionScoreUsesTheClassifierAndRealImagesAsFloor()
    {
        using var scope = NewDisposeScope();
        using var classifier = new Classifier(new ClassifierOptions { BaseWidth = 16, FeatureDim = 16 });
        var judge = new ClassifierFeatures(classifier, "classifier-mnist");
        using var evaluator = new SampleEvaluator(new RealImages("mnist", _train, _test), new ReferenceStatistics(_cache), features: null, judge);

        var result = Assert.Single(evaluator.Evaluate(HeldOutDigits(), [MetricNames.InceptionScore]));

        var value = Assert.Single(result.Values);
        Assert.Equal("IS", value.Metric);
        Assert.Equal("classifier-mnist", value.Extractor);
        // The value and its floor are the score of the judge's own probabilities: of the samples, and of as many real test
        // images drawn with the evaluator's seed.
        var options = evaluator.Options;
        double expected = InceptionScore.Compute(judge.Probabilities(HeldOutDigits()), options.InceptionScoreSplits).Mean;
        double floor = InceptionScore.Compute(judge.Probabilities(evaluator.Real.Subset(DatasetSplit.Test, 200, options.Seed)), options.InceptionScoreSplits).Mean;
        Assert.Equal(expected, value.Value, 9);
        Assert.Equal(floor, value.Floor!.Value, 9);
        Assert.Equal(200, value.SampleCount);
        Assert.Throws<DiffusionException>(() => evaluator.Evaluate(HeldOutDigits(), [MetricNames.Fid]));   // no extractor given
    }

    [Fact]
    public void SampleCountsTheRealSplitsCannotMatchAreRejected()
    {
        using var scope = NewDisposeScope();
        using var evaluator = Evaluator(new PooledPixels());
        var tooMany = MnistFiles.Load("train", limit: 301).Images;

        var e = Assert.Throws<DiffusionException>(() => evaluator.Evaluate(tooMany, [MetricNames.Fid]));
        Assert.Contains("2 … 300", e.Message);
        Assert.Contains("N = 301", e.Message);
        Assert.Throws<DiffusionException>(() => evaluator.Evaluate(HeldOutDigits(), [MetricNames.InceptionScore]));   // no classifier
        Assert.Throws<DiffusionException>(() => evaluator.Evaluate(HeldOutDigits(), [MetricNames.Accuracy]));
    }
}
