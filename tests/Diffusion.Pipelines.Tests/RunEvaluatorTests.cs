using System.Text.Json;
using Diffusion.Core;
using Diffusion.Core.Training;
using Diffusion.Evaluation;
using Diffusion.Pipelines.Evaluation;
using Diffusion.Samplers;

namespace Diffusion.Pipelines.Tests;

public sealed class RunEvaluatorTests(TinyRuns runs) : IClassFixture<TinyRuns>, IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Two scales of 2 samples per class in batches of 3, from the shared caches.</summary>
    private EvaluationOptions Options => new()
    {
        Metrics = [MetricNames.Accuracy, MetricNames.Kid],
        CountPerClass = 2,
        GuidanceScales = [1, 3],
        Steps = 2,
        BatchSize = 3,
        Precision = Precision.Float32,
        ClassifierDirectory = runs.Classifiers,
        ReferenceDirectory = runs.References,
    };

    private static JsonElement ReadJson(string run) => JsonDocument.Parse(File.ReadAllText(Path.Combine(run, RunEvaluator.JsonFile))).RootElement;

    [Fact]
    public void ReportsEveryGuidanceScaleWithTheAskedSampleCounts()
    {
        var run = TinyRuns.Copy(runs.Conditional, _dir);
        var report = RunEvaluator.Evaluate(run, Options);

        Assert.True(report.Conditional);
        Assert.False(report.Partial);
        Assert.Equal(4, report.Count);
        Assert.Equal("classifier-folder-shapes", report.Features);
        Assert.InRange(report.ClassifierTestAccuracy!.Value, 0, 1);
        Assert.Equal([1.0, 3.0], report.Results.Select(r => r.Guidance));
        Assert.Equal(["guidance 1", "guidance 3"], report.Results.Select(r => r.Label));
        foreach (var r in report.Results)
        {
            Assert.Equal(4, r.Count);
            Assert.InRange(r.Accuracy!.Value, 0, 1);
            Assert.Equal([2L, 2L], r.PerClass!.Select(e => e.Count));
            Assert.Equal(["class accuracy", "KID"], r.Metrics.Select(v => v.Metric));
            Assert.All(r.Metrics, v => Assert.Equal(4, v.SampleCount));
            Assert.All(r.Metrics, v => Assert.NotNull(v.Floor));
            Assert.True(r.SampleSeconds > 0);
        }
        Assert.Equal(report.MarkdownPath, Path.Combine(run, "eval.md"));
    }

    [Fact]
    public void WritesEvalJsonWithTheFieldsReportsRead()
    {
        var run = TinyRuns.Copy(runs.Conditional, _dir);
        var report = RunEvaluator.Evaluate(run, Options);

        var json = ReadJson(run);
        Assert.Equal(["sampler", "steps", "guidanceInterval", "guidanceRescale", "perClass", "count", "seed", "batch", "metrics", "features",
            "classifierTestAccuracy", "partial", "results"], json.EnumerateObject().Select(p => p.Name));
        Assert.Equal("ddim", json.GetProperty("sampler").GetString());
        Assert.Equal(2, json.GetProperty("perClass").GetInt32());
        Assert.Equal(4, json.GetProperty("count").GetInt32());
        Assert.Equal(3, json.GetProperty("batch").GetInt32());
        Assert.Equal(JsonValueKind.Null, json.GetProperty("guidanceInterval").ValueKind);
        Assert.Equal(["accuracy", "kid"], json.GetProperty("metrics").EnumerateArray().Select(m => m.GetString()));
        Assert.Equal("classifier-folder-shapes", json.GetProperty("features").GetString());
        Assert.Equal(report.ClassifierTestAccuracy, json.GetProperty("classifierTestAccuracy").GetDouble());
        Assert.False(json.GetProperty("partial").GetBoolean());
        var results = json.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(2, results.Count);
        for (int i = 0; i < 2; i++)
        {
            var r = results[i];
            Assert.Equal(["guidance", "count", "accuracy", "perClass", "sampleSeconds", "metricSeconds", "metrics"], r.EnumerateObject().Select(p => p.Name));
            Assert.Equal(report.Results[i].Guidance, r.GetProperty("guidance").GetDouble());
            Assert.Equal(4, r.GetProperty("count").GetInt64());
            Assert.Equal(report.Results[i].Accuracy, r.GetProperty("accuracy").GetDouble());
            Assert.Equal(["0", "1"], r.GetProperty("perClass").EnumerateArray().Select(e => e.GetProperty("name").GetString()));
            var kid = r.GetProperty("metrics")[1];
            Assert.Equal("KID", kid.GetProperty("metric").GetString());
            Assert.Equal(report.Results[i].Metrics[1].Value, kid.GetProperty("value").GetDouble());
            Assert.Equal(JsonValueKind.Number, kid.GetProperty("floor").ValueKind);
        }

        var md = File.ReadAllText(Path.Combine(run, RunEvaluator.MarkdownFile));
        Assert.StartsWith("# Evaluation of run\n\nddim, 2 steps, 4 samples (2 per class), seed 0; classifier test accuracy ", md);
        Assert.Contains("## guidance 1\n\n| metric |", md);
        Assert.Contains("## guidance 3\n\n| metric |", md);
        Assert.Contains("Class accuracy per class:", md);
        Assert.DoesNotContain("partial", md);
    }

    [Fact]
    public void TheSameOptionsGiveTheSameNumbersAndGuidanceOptionsAreReported()
    {
        var run = TinyRuns.Copy(runs.Conditional, _dir);
        var options = Options with { GuidanceScales = [3], GuidanceInterval = new SigmaInterval(0.28, 5.42), GuidanceRescale = 0.7 };
        var first = RunEvaluator.Evaluate(run, options);
        var second = RunEvaluator.Evaluate(run, options);

        Assert.Equal(first.Results[0].Metrics.Select(v => v.Value), second.Results[0].Metrics.Select(v => v.Value));
        var json = ReadJson(run);
        Assert.Equal("0.28,5.42", json.GetProperty("guidanceInterval").GetString());
        Assert.Equal(0.7, json.GetProperty("guidanceRescale").GetDouble());
        Assert.Contains(", guidance interval 0.28,5.42 (sigma), rescale 0.7 (2 per class)", File.ReadAllText(Path.Combine(run, RunEvaluator.MarkdownFile)));
    }

    [Fact]
    public void AnUnconditionalRunIsScoredOnceAndIgnoresTheGuidanceOptions()
    {
        var run = TinyRuns.Copy(runs.Unconditional, _dir);
        var lines = new List<string>();
        var report = RunEvaluator.Evaluate(run, Options with
        {
            Metrics = [MetricNames.Kid], CountPerClass = 4, GuidanceScales = [1, 3, 5],
            GuidanceInterval = new SigmaInterval(0.28, 5.42), GuidanceRescale = 0.7,
        }, new SyncProgress<string>(lines.Add));

        Assert.False(report.Conditional);
        var result = Assert.Single(report.Results);
        Assert.Equal(1.0, result.Guidance);
        Assert.Equal("unconditional", result.Label);
        Assert.Equal(4, result.Count);
        Assert.Null(result.Accuracy);
        Assert.Equal("KID", Assert.Single(result.Metrics).Metric);
        Assert.Null(report.GuidanceInterval);
        Assert.Equal(0, report.GuidanceRescale);
        Assert.Equal(ResNet18Features.ExtractorName, report.Features);
        Assert.Null(report.ClassifierTestAccuracy);
        Assert.Single(lines, l => l.StartsWith("unconditional: sampling 4 images with ddim, 2 steps, batches of 3", StringComparison.Ordinal));
        Assert.Contains("unconditional: sampled 4/4 images", lines);

        var json = ReadJson(run);
        Assert.Equal(JsonValueKind.Null, json.GetProperty("guidanceInterval").ValueKind);
        Assert.Equal(0, json.GetProperty("guidanceRescale").GetDouble());
        Assert.Equal(JsonValueKind.Null, json.GetProperty("classifierTestAccuracy").ValueKind);
        var md = File.ReadAllText(Path.Combine(run, RunEvaluator.MarkdownFile));
        Assert.Contains("## unconditional", md);
        Assert.DoesNotContain("rescale", md);
        Assert.DoesNotContain("per class", md);
    }

    [Fact]
    public void OptionsAreValidatedWhenSetNamingTheOption()
    {
        void Refused(Func<EvaluationOptions> make, string expected)
            => Assert.Contains(expected, Assert.Throws<DiffusionException>(() => make()).Message);

        Refused(() => new EvaluationOptions { CountPerClass = 0 }, "CountPerClass must be in 1 … 100000, got 0");
        Refused(() => new EvaluationOptions { GuidanceScales = [] }, "GuidanceScales is empty");
        Refused(() => new EvaluationOptions { GuidanceScales = [1, -1] }, "GuidanceScales must be finite numbers ≥ 0, got -1");
        Refused(() => new EvaluationOptions { GuidanceScales = [double.NaN] }, "GuidanceScales");
        Refused(() => new EvaluationOptions { GuidanceRescale = 1.5 }, "GuidanceRescale must be in [0, 1], got 1.5");
        Refused(() => new EvaluationOptions { Steps = 0 }, "Steps must be at least 1");
        Refused(() => new EvaluationOptions { BatchSize = 0 }, "BatchSize must be at least 1");
        Refused(() => new EvaluationOptions { Seed = -1 }, "Seed must be ≥ 0");
        Refused(() => new EvaluationOptions { Sampler = "nope" }, "Unknown sampler 'nope'");
        Refused(() => new EvaluationOptions { Metrics = ["fid", "bogus"] }, "Unknown metric 'bogus'");
        Refused(() => new EvaluationOptions { Metrics = [] }, "No metric given");
        Assert.Throws<DiffusionException>(() => new SigmaInterval(1, 1));

        var options = new EvaluationOptions { Metrics = ["FID", "fid", "Accuracy"], Sampler = "DDIM", GuidanceScales = [3, 1, 3] };
        Assert.Equal(["fid", "accuracy"], options.Metrics);
        Assert.Equal("ddim", options.Sampler);
        Assert.Equal([3.0, 1.0], options.GuidanceScales);
        Assert.Equal(Path.Combine(_dir, "classifiers"), options.ClassifierDirectoryFor(Path.Combine(_dir, "run") + Path.DirectorySeparatorChar));
        Assert.Equal(Path.Combine(_dir, "references"), options.ReferenceDirectoryFor(Path.Combine(_dir, "run")));
    }

    [Fact]
    public void OptionsThatDoNotFitTheRunAreRefusedBeforeSampling()
    {
        var conditional = TinyRuns.Copy(runs.Conditional, Path.Combine(_dir, "c"));
        var unconditional = TinyRuns.Copy(runs.Unconditional, Path.Combine(_dir, "u"));
        var lines = new List<string>();
        void Refused(string run, EvaluationOptions options, string expected)
        {
            var e = Assert.Throws<DiffusionException>(() => RunEvaluator.Evaluate(run, options, new SyncProgress<string>(lines.Add)));
            Assert.Contains(expected, e.Message);
        }

        Refused(Path.Combine(_dir, "none"), Options with { Metrics = [MetricNames.Fid], Features = FeatureKind.Inception },
            "Features = Inception needs InceptionWeights");
        Refused(unconditional, Options, "Class accuracy needs a class-conditional run; drop 'accuracy' from Metrics.");
        Refused(unconditional, Options with { Metrics = [MetricNames.Kid], Features = FeatureKind.Classifier }, "Features = Classifier needs a class-conditional run");
        Refused(unconditional, Options with { Metrics = [MetricNames.InceptionScore] }, "drop 'is' from Metrics");
        Refused(conditional, Options with { Steps = 5000 }, "Steps = 5000 is more than the run's 1000 training timesteps");
        // 4 test images: 8 samples are refused after the classifier and the real images are read, before sampling.
        Refused(unconditional, Options with { Metrics = [MetricNames.Kid], CountPerClass = 8 }, "N must be in 2 … 4");
        Refused(conditional, Options with { CountPerClass = 4 }, "N must be in 2 … 6");

        Assert.DoesNotContain(lines, l => l.Contains("sampling", StringComparison.Ordinal));
        Assert.False(File.Exists(Path.Combine(conditional, RunEvaluator.JsonFile)));
        Assert.False(File.Exists(Path.Combine(unconditional, RunEvaluator.JsonFile)));
    }

    [Fact]
    public void CancellingDuringTheFirstScaleWritesNoReport()
    {
        var run = TinyRuns.Copy(runs.Conditional, _dir);
        using var cts = new CancellationTokenSource();
        var log = new SyncProgress<string>(line => { if (line == "guidance 1: sampled 3/4 images") cts.Cancel(); });

        Assert.ThrowsAny<OperationCanceledException>(() => RunEvaluator.Evaluate(run, Options, log, cts.Token));
        Assert.False(File.Exists(Path.Combine(run, RunEvaluator.JsonFile)));
        Assert.False(File.Exists(Path.Combine(run, RunEvaluator.MarkdownFile)));
    }

    [Fact]
    public void CancellingAfterTheFirstScaleReturnsAndWritesAPartialReport()
    {
        var run = TinyRuns.Copy(runs.Conditional, _dir);
        using var cts = new CancellationTokenSource();
        var log = new SyncProgress<string>(line => { if (line.StartsWith("guidance 3: sampling", StringComparison.Ordinal)) cts.Cancel(); });

        var report = RunEvaluator.Evaluate(run, Options, log, cts.Token);

        Assert.True(report.Partial);
        Assert.Equal(1.0, Assert.Single(report.Results).Guidance);
        var json = ReadJson(run);
        Assert.True(json.GetProperty("partial").GetBoolean());
        Assert.Single(json.GetProperty("results").EnumerateArray());
        var md = File.ReadAllText(Path.Combine(run, RunEvaluator.MarkdownFile));
        Assert.Contains("## guidance 1", md);
        Assert.DoesNotContain("## guidance 3", md);
        Assert.EndsWith("\n(partial: evaluation was cancelled)\n", md);
    }

    [Fact]
    public void SigmaIntervalsRoundTripAsText()
    {
        Assert.True(SigmaInterval.TryParse("0.28, 5.42", out var interval));
        Assert.Equal(new SigmaInterval(0.28, 5.42), interval);
        Assert.Equal("0.28,5.42", interval.ToString());
        Assert.True(SigmaInterval.TryParse(interval.ToString(), out var again));
        Assert.Equal(interval, again);
        foreach (var bad in new[] { "5,1", "1,1", "-1,2", "1", "a,b", "1,2,3", "" })
            Assert.False(SigmaInterval.TryParse(bad, out _), bad);
    }
}
