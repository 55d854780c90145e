using System.Diagnostics;
using System.Globalization;
using Diffusion.Core;
using Diffusion.Core.Data;
using Diffusion.Evaluation;
using Diffusion.Models;
using Diffusion.Pipelines;
using Diffusion.Plotting;
using Diffusion.Samplers;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Benchmarks.Guidance;

/// <summary>
/// The study: loads a class-conditional run, the dataset and its classifier (trained once and cached, as 'diffusion eval'
/// does), then samples every guidance setting from the same noise and measures class accuracy, FID, precision/recall and
/// intra-class diversity. The report and the comparison grid are rewritten after each setting, so cancelling (Ctrl-C)
/// keeps every finished one.
/// </summary>
internal sealed class GuidanceStudy(StudyOptions options, Action<string> log)
{
    public StudyReport Run(string outDirectory, CancellationToken ct)
    {
        set_num_threads(options.Threads);
        var runOptions = RunOptions.Load(options.Run);
        using var model = DiffusionPipeline.Load(options.Run);
        var classNames = model.ClassNames
            ?? throw new DiffusionException($"Run '{options.Run}' is unconditional; the guidance study needs a class-conditional run.");
        string dataset = Datasets.Key(runOptions.Dataset);
        var interval = TimestepInterval.FromSigma(model.Components.Scheduler, options.IntervalSigma.Low, options.IntervalSigma.High);
        var settings = Plan(interval);
        int classes = classNames.Count, count = classes * options.PerClass;
        log(string.Create(CultureInfo.InvariantCulture, $"{settings.Count} settings x {count} samples ({options.Sampler}, {options.Steps} steps); interval sigma ({options.IntervalSigma.Low}, {options.IntervalSigma.High}] = timesteps [{interval.Low:F1}, {interval.High:F1}]"));

        string dataDir = DataDirectory.Resolve(options.DataDir);
        using var train = runOptions.LoadData(dataDir, DatasetSplit.Train, cancellationToken: ct);
        using var test = runOptions.LoadData(dataDir, DatasetSplit.Test, cancellationToken: ct);
        if (count > test.Count) throw new DiffusionException($"{count} samples per setting is more than the {test.Count} test images the floors need; lower --count.");
        string parent = Path.GetDirectoryName(Path.GetFullPath(options.Run).TrimEnd(Path.DirectorySeparatorChar)) ?? ".";
        string cacheDir = options.ClassifierDir ?? Path.Combine(parent, "classifiers");
        log($"Classifier cache: {Path.Combine(cacheDir, dataset)} (trained once if missing) ...");
        var (classifier, info, classifierFolder) = ClassifierStore.GetOrLoad(cacheDir, dataset, () => train, () => test,
            log: new SyncProgress<string>(line => log("    " + line)), cancellationToken: ct);
        using var _ = classifier;
        var features = new ClassifierFeatures(classifier, $"classifier-{dataset}");
        using var evaluator = new SampleEvaluator(new RealImages(dataset, train, test), new ReferenceStatistics(options.ReferenceDir ?? Path.Combine(parent, "references")),
            features, features, featuresFingerprint: ReferenceStatistics.FileFingerprint(Path.Combine(classifierFolder, ClassifierStore.WeightsFile)));

        int[] labels = Enumerable.Range(0, count).Select(i => i % classes).ToArray();
        var (realFeatures, realLabels) = RealFeatures(test, features, classes, ct);
        using var __ = realFeatures;
        var kept = new List<(string Name, Tensor Features)>();
        var report = new StudyReport
        {
            Run = Path.GetFullPath(options.Run),
            Preset = runOptions.Preset,
            Dataset = dataset,
            Machine = $"{Environment.ProcessorCount} cores, {Environment.OSVersion}",
            DateUtc = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture),
            Sampler = options.Sampler,
            Steps = options.Steps,
            PerClass = options.PerClass,
            Count = count,
            Seed = options.Seed,
            Precision = ((UNet)model.Components.Denoiser).ParameterType.ToString(),
            Threads = get_num_threads(),
            Features = features.Name,
            ClassifierTestAccuracy = info.TestAccuracy,
            IntervalSigma = [options.IntervalSigma.Low, options.IntervalSigma.High],
            FloorFid = double.NaN, FloorPrecision = double.NaN, FloorRecall = double.NaN,
            RealDiversity = IntraClassDiversity.Compute(realFeatures, realLabels),
            Settings = [],
        };

        var sampler = SamplerRegistry.Create(options.Sampler);
        var gridRows = new List<Tensor>();
        try
        {
            for (int i = 0; i < settings.Count; i++)
            {
                ct.ThrowIfCancellationRequested();
                var setting = settings[i];
                log($"[{i + 1}/{settings.Count}] {setting.Label} ...");
                using var scope = NewDisposeScope();
                var clock = Stopwatch.StartNew();
                using var generated = model.Generate(new GenerationRequest
                {
                    Count = count, Classes = labels, SamplerInstance = sampler, Steps = options.Steps, GuidanceScale = setting.Scale, Guidance = setting.Options,
                    Seed = options.Seed, BatchSize = options.BatchSize,
                }, cancellationToken: ct);
                var images = generated.Images;
                double seconds = clock.Elapsed.TotalSeconds;

                using var requested = tensor(labels.Select(l => (long)l).ToArray());
                double accuracy = ClassAccuracy.Evaluate(classifier, images, requested, cancellationToken: ct).Accuracy;
                var measured = evaluator.Evaluate(images, [MetricNames.Fid, MetricNames.PrecisionRecall], cancellationToken: ct);
                var values = measured.SelectMany(r => r.Values).ToDictionary(v => v.Metric);
                var sampleFeatures = features.Extract(images, ct);
                double diversity = IntraClassDiversity.Compute(sampleFeatures, labels);
                if (setting.Kind == "plain" && options.TsneScales.Contains(setting.Scale))
                    kept.Add((string.Create(CultureInfo.InvariantCulture, $"w{setting.Scale}"), sampleFeatures.MoveToOuterDisposeScope()));
                report = report with
                {
                    FloorFid = values["FID"].Floor ?? double.NaN,
                    FloorPrecision = values["precision"].Floor ?? double.NaN,
                    FloorRecall = values["recall"].Floor ?? double.NaN,
                };
                var result = new SettingResult(setting.Label, setting.Kind, setting.Scale, setting.Interval?.Low, setting.Interval?.High, setting.Rescale,
                    accuracy, values["FID"].Value, values["precision"].Value, values["recall"].Value, diversity, seconds);
                report.Settings.Add(result);
                report.Save(outDirectory);

                gridRows.Add(images.narrow(0, 0, classes).clone().MoveToOuterDisposeScope()); // the first sample of each class
                LabeledGrid.SavePng(cat(gridRows, 0), report.Settings.Select(s => s.Label).ToArray(), classNames,
                    Path.Combine(outDirectory, StudyReport.GridFile), scale: 2);
                log(string.Create(CultureInfo.InvariantCulture,
                    $"    accuracy {accuracy:P1}, FID {result.Fid:F2} (floor {report.FloorFid:F2}), precision {result.Precision:F3}, recall {result.Recall:F3}, diversity {diversity:F3} (real {report.RealDiversity:F3}), {seconds:F0} s sampling"));
            }
            if (kept.Count > 0) report = report with { TsnePlots = SaveTsne(outDirectory, realFeatures, realLabels, kept, labels, ct) };
            if (SaveClassEmbeddings(model, outDirectory) is { } file) report = report with { TsnePlots = [.. report.TsnePlots, file] };
        }
        finally
        {
            foreach (var row in gridRows) row.Dispose();
            foreach (var (_, f) in kept) f.Dispose();
        }
        report = report with { Complete = true };
        report.Save(outDirectory);
        return report;
    }

    /// <summary>Plain guidance at every scale, then the interval and rescale variants at the variant scales.</summary>
    private List<GuidanceSetting> Plan(TimestepInterval interval)
    {
        var plan = options.Scales.Order().Select(w => new GuidanceSetting("plain", w)).ToList();
        foreach (double w in options.VariantScales.Order())
        {
            plan.Add(new GuidanceSetting("interval", w, Interval: interval));
            plan.Add(new GuidanceSetting("rescale", w, Rescale: options.Rescale));
        }
        return plan;
    }

    /// <summary>Classifier features of the first PerClass test images of every class, the real side of diversity and t-SNE.</summary>
    private (Tensor Features, int[] Labels) RealFeatures(ImageDataset test, ClassifierFeatures features, int classes, CancellationToken ct)
    {
        using var scope = NewDisposeScope();
        var all = test.Labels.to(ScalarType.Int64).data<long>().ToArray();
        var picked = Enumerable.Range(0, classes)
            .SelectMany(c => Enumerable.Range(0, all.Length).Where(i => all[i] == c).Take(options.PerClass)).ToArray();
        var images = test.Batch(tensor(picked.Select(i => (long)i).ToArray())).X;
        return (features.Extract(images, ct).MoveToOuterDisposeScope(), picked.Select(i => (int)all[i]).ToArray());
    }

    /// <summary>One t-SNE of real and sample features together; one plot per set, the other sets in grey on the same axes.</summary>
    private List<string> SaveTsne(string outDirectory, Tensor real, int[] realLabels, List<(string Name, Tensor Features)> kept, int[] labels, CancellationToken ct)
    {
        var sets = new List<(string Name, Tensor Features, int[] Labels)> { ("real", real, realLabels) };
        sets.AddRange(kept.Select(k => (k.Name, k.Features, labels)));
        long total = sets.Sum(s => s.Features.shape[0]);
        if (total > Tsne.MaxPoints)
        {
            log($"Skipping t-SNE: {total} points is more than {Tsne.MaxPoints}; lower --count or --tsne-scales.");
            return [];
        }
        log($"t-SNE of {total} feature vectors ({string.Join(", ", sets.Select(s => s.Name))}) ...");
        using var scope = NewDisposeScope();
        var embedding = Tsne.Embed(cat(sets.Select(s => s.Features).ToArray(), 0), new TsneOptions { Seed = options.Seed }, ct);
        var allLabels = tensor(sets.SelectMany(s => s.Labels.Select(l => (long)l)).ToArray());
        var files = new List<string>();
        long start = 0;
        foreach (var set in sets)
        {
            long n = set.Features.shape[0];
            var mask = zeros(total, ScalarType.Bool);
            mask.narrow(0, start, n).fill_(true);
            string file = $"tsne-{set.Name}.png";
            ScatterPlot.SavePng(embedding, allLabels, Path.Combine(outDirectory, file), size: 400, radius: 2, highlight: mask);
            files.Add(file);
            start += n;
        }
        return files;
    }

    /// <summary>t-SNE (perplexity 3) of the network's learned class embeddings, the null class last: where guidance's
    /// "no class" row sits among the digits. Null when the network has no class embedding.</summary>
    private string? SaveClassEmbeddings(DiffusionPipeline model, string outDirectory)
        => model.RunOnTorchThread(c => SaveClassEmbeddings((UNet)c.Denoiser, outDirectory)).GetAwaiter().GetResult();

    private string? SaveClassEmbeddings(UNet network, string outDirectory)
    {
        using var scope = NewDisposeScope();
        var table = network.named_parameters().FirstOrDefault(p => p.name == "class_embedding.weight").parameter;
        if (table is null || table.shape[0] < 5) return null;
        var embedding = Tsne.Embed(table.detach().to(ScalarType.Float32), new TsneOptions { Perplexity = 3, Seed = options.Seed });
        const string file = "tsne-class-embeddings.png";
        ScatterPlot.SavePng(embedding, arange(table.shape[0]), Path.Combine(outDirectory, file), size: 300, radius: 6);
        return file;
    }
}
