using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Diffusion.Core;
using Diffusion.Core.Data;
using Diffusion.Evaluation;
using Diffusion.Pipelines;
using Diffusion.Samplers;
using static TorchSharp.torch;

namespace Diffusion.Cli;

/// <summary>The 'eval' command: sample from a run and measure class accuracy, FID, KID, IS and precision/recall.</summary>
internal static partial class Commands
{
    private static readonly string[] FeatureKinds = ["classifier", "resnet18", "inception"];

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
        var metrics = MetricNames.Parse(a.String("metrics"));
        var featureKind = a.String("features")?.ToLowerInvariant();
        if (featureKind is not null && !FeatureKinds.Contains(featureKind))
            throw new DiffusionException($"Unknown features '{a.String("features")}'. Valid: {string.Join(", ", FeatureKinds)}.");
        bool wantAccuracy = metrics.Contains(MetricNames.Accuracy);
        var sampleMetrics = metrics.Where(m => m != MetricNames.Accuracy).ToList();
        bool wantFeatures = sampleMetrics.Any(MetricNames.FeatureMetrics.Contains);
        if (wantFeatures && featureKind == "inception" && a.String("inception-weights") is null)
            throw new DiffusionException("--features inception needs --inception-weights (pytorch-fid's pt_inception-2015-12-05-6726825d.pth or a .safetensors copy).");

        set_num_threads(a.Int("threads", 1, 256)!.Value);
        using var model = TrainedModel.Load(run, ParsePrecision(a.String("precision")));
        featureKind ??= model.Conditioner is null ? "resnet18" : "classifier";
        if (featureKind == "classifier" && model.Conditioner is null && wantFeatures)
            throw new DiffusionException("--features classifier needs a class-conditional run (the classifier is trained on the dataset's classes); use --features resnet18.");
        if (wantAccuracy && model.Conditioner is null) throw new DiffusionException("Class accuracy needs a class-conditional run; drop 'accuracy' from --metrics.");
        var sampler = SamplerRegistry.Create(a.RequiredString("sampler"));
        int steps = a.Int("steps", 1, model.Schedule.TrainSteps)!.Value;
        int perClass = a.Int("count", 1, 100_000)!.Value;
        int batch = a.Int("batch", 1, 100_000)!.Value;
        long seed = a.Int("seed", 0)!.Value;
        var scales = a.RequiredString("guidance").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var g) && g >= 0 ? g
                : throw new DiffusionException($"--guidance takes comma-separated numbers ≥ 0, got '{s}'.")).Distinct().ToArray();
        var guidanceOptions = GuidanceOptionsFrom(a, model.Schedule);
        if (model.Conditioner is null)
        {
            // Guidance needs classes: every scale would sample the same images, so score them once. Say so only
            // about options the user wrote; the default scales are no request.
            if (a.Given("guidance") && scales is not [1.0])
                Console.Error.WriteLine($"Unconditional run: guidance does not apply, so --guidance {a.String("guidance")} is scored once.");
            WarnGuidanceIgnored(a, "guidance-interval", "guidance-rescale");
            scales = [1.0];
            guidanceOptions = null;
        }
        var dataset = Datasets.Key(model.Options.Dataset);
        int[]? labels = model.Conditioner is { } c ? Enumerable.Range(0, c.Classes * perClass).Select(i => i % c.Classes).ToArray() : null;
        int total = labels?.Length ?? perClass;

        bool needClassifier = wantAccuracy || sampleMetrics.Contains(MetricNames.InceptionScore) || (wantFeatures && featureKind == "classifier");
        if (needClassifier && model.Conditioner is null)
            throw new DiffusionException("IS needs the dataset's classifier, which exists only for class-conditional runs; drop 'is' from --metrics.");
        using var real = new RealData(model.Options, DataDirectory.Resolve(a.String("data-dir")), ct);
        var classifier = needClassifier ? LoadClassifier(real, a, run, ct) : default;
        using var evaluation = sampleMetrics.Count > 0 ? OpenEvaluation(real, a, run, featureKind, wantFeatures, classifier) : null;

        evaluation?.Evaluator.CheckSampleCount(total, sampleMetrics);  // before minutes of sampling, not after
        var log = new StderrLog();
        var results = new List<object>();
        var md = new StringBuilder($"# Evaluation of {Path.GetFileName(Path.GetFullPath(run))}\n\n{sampler.Name}, {steps} steps, {total} samples" +
            (guidanceOptions is null ? "" : string.Create(CultureInfo.InvariantCulture, $", guidance interval {a.String("guidance-interval") ?? "none"} (sigma), rescale {guidanceOptions.Rescale}")) +
            (labels is null ? "" : $" ({perClass} per class)") + $", seed {seed}" +
            (needClassifier ? string.Create(CultureInfo.InvariantCulture, $"; classifier test accuracy {classifier.Info.TestAccuracy:P2}") : "") +
            ". Floors: the same metric between real images (FID, KID, precision/recall: N train vs N test images; IS: N test images; class accuracy: the classifier on the test split).\n\n");
        bool partial = true;
        try
        {
            foreach (var g in scales)
            {
                var clock = Stopwatch.StartNew();
                string label = labels is null ? "unconditional" : string.Create(CultureInfo.InvariantCulture, $"guidance {g}");
                log.Write(string.Create(CultureInfo.InvariantCulture, $"{label}: sampling {total} images with {sampler.Name}, {steps} steps, batches of {batch}"));
                using var images = model.Sample(sampler, labels, total, steps, g, seed, batchSize: batch,
                    progress: new SamplingLog(log, total, batch, label), ct: ct, guidanceOptions: guidanceOptions);
                double sampleSeconds = clock.Elapsed.TotalSeconds;
                clock.Restart();

                var reported = new List<IMetricResult>();
                ClassAccuracyReport? accuracy = null;
                if (wantAccuracy)
                {
                    using var requested = tensor(labels!.Select(l => (long)l).ToArray());
                    accuracy = ClassAccuracy.Evaluate(classifier.Classifier, images, requested, model.Conditioner!.Names, cancellationToken: ct);
                    reported.Add(new ClassAccuracyMetric(accuracy.Accuracy, accuracy.Count, classifier.Info.TestAccuracy, ClassifierName(dataset)));
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{label}: class accuracy {accuracy.Accuracy:P2} over {accuracy.Count} samples ({sampleSeconds:F0} s sampling)"));
                    Console.WriteLine("  per class: " + string.Join("  ", accuracy.PerClass.Select(e => string.Create(CultureInfo.InvariantCulture, $"{e.Name}:{e.Accuracy:P0}"))));
                }
                if (evaluation is not null)
                    reported.AddRange(evaluation.Evaluator.Evaluate(images, sampleMetrics, log, ct));
                double metricSeconds = clock.Elapsed.TotalSeconds;

                var values = reported.SelectMany(r => r.Values).ToList();
                foreach (var v in values.Where(v => v.Metric != "class accuracy"))
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{label}: {v.Metric} {v.Value:G5}{(v.Std is double s ? $" ± {s:G3}" : "")} (floor {v.Floor:G5}; N = {v.SampleCount}; {v.Extractor})"));
                md.Append(CultureInfo.InvariantCulture, $"## {label}\n\n{MetricReport.ToMarkdown(reported)}\n");
                if (accuracy is not null) md.Append(CultureInfo.InvariantCulture, $"Class accuracy per class:\n\n{accuracy.ToMarkdown()}\n");
                results.Add(new
                {
                    guidance = g,
                    count = (long)total,
                    accuracy = accuracy?.Accuracy,
                    perClass = accuracy?.PerClass,
                    sampleSeconds,
                    metricSeconds,
                    metrics = values,
                });
            }
            partial = false;
        }
        finally
        {
            // A cancelled evaluation still leaves a consistent report of the guidance scales it finished.
            if (results.Count > 0 || !partial)
            {
                var json = JsonSerializer.Serialize(new
                {
                    sampler = sampler.Name, steps, guidanceInterval = guidanceOptions is null ? null : a.String("guidance-interval"), guidanceRescale = guidanceOptions?.Rescale ?? 0, perClass, count = total, seed, batch, metrics, features = wantFeatures ? evaluation!.Evaluator.Features!.Name : null,
                    classifierTestAccuracy = needClassifier ? classifier.Info.TestAccuracy : (double?)null, partial, results,
                }, OptionsJson.Options);
                AtomicFile.WriteAllText(Path.Combine(run, "eval.json"), json);
                AtomicFile.WriteAllText(Path.Combine(run, "eval.md"), partial ? md + "\n(partial: evaluation was cancelled)\n" : md.ToString());
                Console.WriteLine($"Report -> {Path.Combine(run, "eval.md")}");
            }
        }
        return 0;
    }

    private static string ClassifierName(string dataset) => $"classifier-{dataset}";

    /// <summary>The extractor and the evaluator; disposes what it opened (the real images belong to the caller's <see cref="RealData"/>).</summary>
    private sealed class Evaluation(IDisposable? extractor, SampleEvaluator evaluator) : IDisposable
    {
        public SampleEvaluator Evaluator => evaluator;

        public void Dispose()
        {
            evaluator.Dispose();
            extractor?.Dispose();
        }
    }

    private static Evaluation OpenEvaluation(RealData real, Args a, string run, string featureKind, bool wantFeatures,
        (Classifier Classifier, ClassifierInfo Info, string Folder) classifier)
    {
        var referenceDir = a.String("reference-dir") is { } r && r != "<run>/../references" ? r
            : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(run).TrimEnd(Path.DirectorySeparatorChar)) ?? ".", "references");
        var judge = classifier.Classifier is null ? null : new ClassifierFeatures(classifier.Classifier, ClassifierName(real.Key));
        IFeatureExtractor? features = null;
        IDisposable? owned = null;
        string fingerprint = "";
        if (wantFeatures)
        {
            switch (featureKind)
            {
                case "classifier":
                    features = judge;
                    fingerprint = ReferenceStatistics.FileFingerprint(Path.Combine(classifier.Folder, ClassifierStore.WeightsFile));
                    break;
                case "resnet18":
                    var resnet = ResNet18Features.FromPackage(threads: get_num_threads());
                    (features, owned, fingerprint) = (resnet, resnet, ReferenceStatistics.FileFingerprint(resnet.ModelPath));
                    break;
                default:
                    var weights = a.RequiredString("inception-weights");
                    var inception = new InceptionV3Features(weights);
                    (features, owned, fingerprint) = (inception, inception, ReferenceStatistics.FileFingerprint(weights));
                    break;
            }
        }
        try
        {
            var evaluator = new SampleEvaluator(new RealImages(real.Key, real.Train, real.Test), new ReferenceStatistics(referenceDir), features, judge,
                featuresFingerprint: fingerprint);
            return new Evaluation(owned, evaluator);
        }
        catch
        {
            owned?.Dispose();
            throw;
        }
    }

    /// <summary>Progress lines on stderr, with the time since the command started.</summary>
    private sealed class StderrLog : IProgress<string>
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public void Report(string value) => Write(value);

        public void Write(string message) => Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{_clock.Elapsed:hh\\:mm\\:ss}] {message}"));
    }

    /// <summary>Reports each finished sampling batch (the sampler reports every step of the current batch, synchronously).</summary>
    private sealed class SamplingLog(StderrLog log, int total, int batch, string label) : IProgress<SamplingProgress>
    {
        private int _batches;

        public void Report(SamplingProgress value)
        {
            if (value.Step != value.Total) return;
            _batches++;
            log.Write(string.Create(CultureInfo.InvariantCulture, $"{label}: sampled {Math.Min(total, _batches * batch)}/{total} images"));
        }
    }
}
