using System.Diagnostics;
using System.Globalization;
using Diffusion.Core;
using Diffusion.Evaluation;
using Diffusion.Pipelines.Evaluation;
using Diffusion.Samplers;
using static TorchSharp.torch;

namespace Diffusion.Cli;

/// <summary>The 'eval' command: sample from a run and measure class accuracy, FID, KID, IS and precision/recall.</summary>
internal static partial class Commands
{
    public static readonly OptionSpec[] EvalOptions =
    {
        new("run", "Run folder written by 'train'."),
        new("metrics", "Comma-separated metrics: " + string.Join(", ", MetricNames.All) + ". FID, KID and pr are reported with their floor (the same metric between N train and N test images).", "accuracy"),
        new("count", "Samples per class (class-conditional runs) or in total (unconditional runs); FID/KID/IS/pr need the total N ≤ the test split (10000 for MNIST).", "100"),
        new("guidance", "Comma-separated guidance scales to evaluate.", "1,3"),
        new("guidance-interval", "Guide only for noise levels sigma in (LOW, HIGH], e.g. 0.28,5.42; the conditional prediction elsewhere."),
        new("guidance-rescale", "Guidance rescale phi in [0, 1] (0.7 suggested).", "0"),
        new("sampler", "Sampler name.", "ddim"),
        new("steps", "Sampling steps.", "50"),
        new("seed", "Random seed.", "0"),
        new("batch", "Images per sampling batch (the number of samples does not depend on it).", "250"),
        new("features", "Features for FID, KID and pr: classifier (the dataset's own classifier: FID_dataset), resnet18 (ImageNet ResNet18, ONNX) or inception (pytorch-fid's FID Inception; needs --inception-weights). Default: classifier for class-conditional runs, resnet18 for unconditional ones."),
        new("inception-weights", "pytorch-fid's FID Inception weights (pt_inception-2015-12-05-6726825d.pth or .safetensors), for --features inception."),
        new("data-dir", "Folder holding the datasets (for the classifier and the real images)."),
        new("classifier-dir", "Where the project's classifier is cached.", "<run>/../classifiers"),
        new("reference-dir", "Where features of real images are cached per (dataset, split, extractor, N).", "<run>/../references"),
        new("precision", "auto, bf16 or fp32 for the network.", "auto"),
        new("threads", "CPU threads for TorchSharp and ONNX Runtime (1 is faster when other processes share the cores).", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)),
    };

    public static int Eval(Args a, CancellationToken ct)
    {
        var run = a.RequiredString("run");
        var options = new EvaluationOptions
        {
            Metrics = MetricNames.Parse(a.String("metrics")),
            CountPerClass = a.Int("count", 1, 100_000)!.Value,
            GuidanceScales = ParseScales(a.RequiredString("guidance")),
            GuidanceInterval = a.String("guidance-interval") is { } text
                ? SigmaInterval.TryParse(text, out var interval) ? interval
                    : throw new DiffusionException($"--guidance-interval takes two noise levels 'LOW,HIGH' with 0 <= LOW < HIGH, e.g. 0.28,5.42; got '{text}'.")
                : null,
            GuidanceRescale = a.Double("guidance-rescale", 0, 1) ?? 0,
            Sampler = a.RequiredString("sampler"),
            Steps = a.Int("steps", 1)!.Value,
            Seed = a.Int("seed", 0)!.Value,
            BatchSize = a.Int("batch", 1, 100_000)!.Value,
            Features = ParseFeatures(a.String("features")),
            InceptionWeights = a.String("inception-weights"),
            DataDirectory = a.String("data-dir"),
            ClassifierDirectory = a.String("classifier-dir") is { } c && c != "<run>/../classifiers" ? c : null,
            ReferenceDirectory = a.String("reference-dir") is { } r && r != "<run>/../references" ? r : null,
            Precision = ParsePrecision(a.String("precision")),
        };
        set_num_threads(a.Int("threads", 1, 256)!.Value);

        var report = RunEvaluator.Evaluate(run, options, new StderrLog(), ct);
        if (!report.Conditional)
        {
            // Say so only about options the user wrote; the default scales are no request.
            if (a.Given("guidance") && options.GuidanceScales is not [1.0])
                Console.Error.WriteLine($"Unconditional run: guidance does not apply, so --guidance {a.String("guidance")} is scored once.");
            WarnGuidanceIgnored(a, "guidance-interval", "guidance-rescale");
        }
        foreach (var result in report.Results)
        {
            if (result.ClassAccuracy is { } accuracy)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{result.Label}: class accuracy {accuracy.Accuracy:P2} over {accuracy.Count} samples ({result.SampleSeconds:F0} s sampling)"));
                Console.WriteLine("  per class: " + string.Join("  ", accuracy.PerClass.Select(e => string.Create(CultureInfo.InvariantCulture, $"{e.Name}:{e.Accuracy:P0}"))));
            }
            foreach (var v in result.Metrics.Where(v => v.Metric != "class accuracy"))
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{result.Label}: {v.Metric} {v.Value:G5}{(v.Std is double s ? $" ± {s:G3}" : "")} (floor {v.Floor:G5}; N = {v.SampleCount}; {v.Extractor})"));
        }
        Console.WriteLine($"Report -> {report.MarkdownPath}");
        if (report.Partial) ct.ThrowIfCancellationRequested();  // the partial report is written; exit as cancelled
        return 0;
    }

    private static IReadOnlyList<double> ParseScales(string list) => list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var g) && g >= 0 ? g
            : throw new DiffusionException($"--guidance takes comma-separated numbers ≥ 0, got '{s}'.")).ToArray();

    private static FeatureKind? ParseFeatures(string? name) => name?.ToLowerInvariant() switch
    {
        null => null,
        "classifier" => FeatureKind.Classifier,
        "resnet18" => FeatureKind.ResNet18,
        "inception" => FeatureKind.Inception,
        _ => throw new DiffusionException($"Unknown features '{name}'. Valid: classifier, resnet18, inception."),
    };

    /// <summary>Progress lines on stderr, with the time since the command started.</summary>
    private sealed class StderrLog : IProgress<string>
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public void Report(string value) => Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{_clock.Elapsed:hh\\:mm\\:ss}] {value}"));
    }
}
