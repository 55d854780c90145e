using System.CommandLine;
using System.CommandLine.Parsing;
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
    private static Command Eval(CancellationToken ct)
    {
        var defaults = new EvaluationOptions();
        var runOption = RunOption();
        var metrics = new Option<IReadOnlyList<string>>("--metrics")
        {
            Description = "Comma-separated metrics: " + string.Join(", ", MetricNames.All) + ". FID, KID and pr are reported with their floor (the same metric between N train and N test images).",
            HelpName = "M,M,...",
            DefaultValueFactory = _ => defaults.Metrics,
            CustomParser = r => Parsed(r, MetricNames.Parse),
        };
        metrics.CompletionSources.Add(MetricNames.All.ToArray());
        var count = Flags.Int("--count", "Samples per class (class-conditional runs) or in total (unconditional runs); FID/KID/IS/pr need the total N ≤ the test split (10000 for MNIST).", defaults.CountPerClass, 1, 100_000);
        var guidance = new Option<IReadOnlyList<double>>("--guidance")
        {
            Description = $"Comma-separated guidance scales to evaluate. [default: {Scales(defaults.GuidanceScales)}]",
            HelpName = "W,W,...",
            CustomParser = r => Parsed(r, ParseScales),
        };
        var interval = IntervalOption("Guide only for noise levels sigma in (LOW, HIGH], e.g. 0.28,5.42; the conditional prediction elsewhere.");
        var rescale = Flags.Double("--guidance-rescale", "Guidance rescale phi in [0, 1] (0.7 suggested).", defaults.GuidanceRescale, 0, 1);
        var sampler = SamplerOption("Sampler name.", defaults.Sampler);
        var steps = Flags.Int("--steps", "Sampling steps.", defaults.Steps, 1);
        var seed = Flags.Int("--seed", "Random seed.", (int)defaults.Seed, 0);
        var batch = Flags.Int("--batch", "Images per sampling batch (the number of samples does not depend on it).", defaults.BatchSize, 1, 100_000);
        var features = Flags.Choice<FeatureKind?>("--features", "Features for FID, KID and pr: classifier (the dataset's own classifier: FID_dataset), resnet18 (ImageNet ResNet18, ONNX) or inception (pytorch-fid's FID Inception; needs --inception-weights). Default: classifier for class-conditional runs, resnet18 for unconditional ones.", "features",
            [(["classifier"], FeatureKind.Classifier), (["resnet18"], FeatureKind.ResNet18), (["inception"], FeatureKind.Inception)]);
        var inceptionWeights = Flags.Text("--inception-weights", "pytorch-fid's FID Inception weights (pt_inception-2015-12-05-6726825d.pth or .safetensors), for --features inception.");
        var dataDir = Flags.Text("--data-dir", "Folder holding the datasets (for the classifier and the real images).");
        var classifierDir = Flags.Text("--classifier-dir", "Where the project's classifier is cached. [default: <run>/../classifiers]");
        var referenceDir = Flags.Text("--reference-dir", "Where features of real images are cached per (dataset, split, extractor, N). [default: <run>/../references]");
        var precision = PrecisionOption("auto, bf16, fp32 or autocast (fp32 weights, bf16 convolutions and matmuls) for the network.");
        var threads = ThreadsOption("CPU threads for TorchSharp and ONNX Runtime (1 is faster when other processes share the cores).");

        var command = new Command("eval", "Sample from a run and measure class accuracy, FID, KID, IS and precision/recall (with real-vs-real floors); writes eval.json and eval.md.")
        {
            runOption, metrics, count, guidance, interval, rescale, sampler, steps, seed, batch, features, inceptionWeights, dataDir, classifierDir, referenceDir, precision, threads,
        };
        command.SetAction(p =>
        {
            var run = p.GetValue(runOption)!;
            var options = new EvaluationOptions
            {
                Metrics = p.GetValue(metrics)!,
                CountPerClass = p.GetValue(count),
                GuidanceScales = p.GetValue(guidance) ?? defaults.GuidanceScales,
                GuidanceInterval = p.GetValue(interval),
                GuidanceRescale = p.GetValue(rescale),
                Sampler = p.GetValue(sampler)!,
                Steps = p.GetValue(steps),
                Seed = p.GetValue(seed),
                BatchSize = p.GetValue(batch),
                Features = p.GetValue(features),
                InceptionWeights = p.GetValue(inceptionWeights),
                DataDirectory = p.GetValue(dataDir),
                ClassifierDirectory = p.GetValue(classifierDir),
                ReferenceDirectory = p.GetValue(referenceDir),
                Precision = p.GetValue(precision),
            };
            set_num_threads(p.GetValue(threads));

            var report = RunEvaluator.Evaluate(run, options, new StderrLog(), ct);
            if (!report.Conditional)
            {
                // Say so only about options the user wrote; the default scales are no request.
                if (p.Given(guidance) && options.GuidanceScales is not [1.0])
                    Console.Error.WriteLine($"Unconditional run: guidance does not apply, so --guidance {Scales(p.GetValue(guidance)!)} is scored once.");
                WarnGuidanceIgnored(p, interval, rescale);
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
        });
        return command;
    }

    /// <summary>A comma-separated list read by <paramref name="parse"/>; its <see cref="DiffusionException"/> becomes the parse error.</summary>
    private static IReadOnlyList<T> Parsed<T>(ArgumentResult r, Func<string, IReadOnlyList<T>> parse)
    {
        try { return parse(r.Tokens[^1].Value); }
        catch (DiffusionException e)
        {
            r.AddError(e.Message);
            return [];
        }
    }

    private static IReadOnlyList<double> ParseScales(string list)
    {
        var scales = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var g) && g >= 0 && double.IsFinite(g) ? g
                : throw new DiffusionException($"--guidance takes comma-separated numbers ≥ 0, got '{s}'.")).ToArray();
        return scales.Length > 0 ? scales : throw new DiffusionException($"--guidance takes comma-separated numbers ≥ 0, got '{list}'.");
    }

    private static string Scales(IEnumerable<double> scales) => string.Join(",", scales.Select(w => w.ToString(CultureInfo.InvariantCulture)));

    /// <summary>Progress lines on stderr, with the time since the command started.</summary>
    private sealed class StderrLog : IProgress<string>
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public void Report(string value) => Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{_clock.Elapsed:hh\\:mm\\:ss}] {value}"));
    }
}
