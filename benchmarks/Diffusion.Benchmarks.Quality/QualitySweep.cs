using System.Diagnostics;
using System.Globalization;
using Diffusion.Core;
using Diffusion.Core.Conditioning;
using Diffusion.Core.Data;
using Diffusion.Core.Training;
using Diffusion.Evaluation;
using Diffusion.Models;
using Diffusion.Pipelines;
using Diffusion.Samplers;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Benchmarks.Quality;

/// <summary>
/// The sweep: loads a trained run, the dataset and the project's classifier (trained once and cached, as
/// 'diffusion eval' does), fits the real reference statistics, then samples every (sampler, NFE) setting from the
/// same initial noise and measures FID and class accuracy. Settings run from the cheapest NFE up; the report is
/// rewritten after each, so cancelling (Ctrl-C) leaves every finished setting on disk.
/// </summary>
internal sealed class QualitySweep(SweepOptions options, Action<string> log)
{
    /// <summary>One planned setting.</summary>
    private sealed record Setting(string Sampler, int Nfe, int Steps, int Evaluations);

    public SweepReport Run(string outDirectory, CancellationToken ct)
    {
        set_num_threads(options.Threads);
        // The components on this thread: the sweep wraps the denoiser itself to count network evaluations.
        var runOptions = RunOptions.Load(options.Run);
        var model = PipelineFolder.LoadModelOrRun(options.Run, CPU, options.Precision ?? Precision.Auto);
        using var network = (UNet)model.Denoiser;
        string dataset = Datasets.Key(runOptions.Dataset);
        var plan = Plan(model);
        long totalEvaluations = plan.Sum(s => (long)s.Evaluations);
        log($"{plan.Count} settings, {totalEvaluations} evaluations per image in all ({totalEvaluations * options.Count} image-evaluations): "
            + string.Join(", ", plan.Select(s => $"{s.Sampler}@{s.Nfe}={s.Steps} steps")));

        string dataDir = DataDirectory.Resolve(options.DataDir);
        using var train = runOptions.LoadData(dataDir, DatasetSplit.Train, new SyncProgress<string>(log), cancellationToken: ct);
        using var test = runOptions.LoadData(dataDir, DatasetSplit.Test, new SyncProgress<string>(log), cancellationToken: ct);
        if (options.Count > test.Count)
            throw new DiffusionException($"--count {options.Count} is more than the {test.Count} test images the reference statistics need.");

        // The project's classifier, cached beside the run and trained once; with --classifier-epochs, a cached one trained
        // for other epochs is retrained.
        var cacheDir = options.ClassifierDir
            ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(options.Run).TrimEnd(Path.DirectorySeparatorChar)) ?? ".", "classifiers");
        log($"Classifier cache: {Path.Combine(cacheDir, dataset)} (trained once if missing) ...");
        var training = options.ClassifierEpochs is int epochs ? new ClassifierTrainingOptions { Epochs = epochs } : null;
        var (classifier, info, _) = ClassifierStore.GetOrLoad(cacheDir, dataset, () => train, () => test, training,
            new SyncProgress<string>(line => log("    " + line)), ct);
        using var _ = classifier;
        var extractor = new ClassifierFeatures(classifier, $"classifier-{dataset}");
        FeatureStatistics reference, realTrain;
        using (var scope = NewDisposeScope())
        {
            reference = FeatureStatistics.FromImages(extractor, Subset(test, options.Seed), ct);
            realTrain = FeatureStatistics.FromImages(extractor, Subset(train, options.Seed + 1), ct);
        }
        double floor = FrechetDistance.Compute(reference, realTrain).Value;
        log(string.Create(CultureInfo.InvariantCulture, $"Classifier test accuracy {info.TestAccuracy:P2}; FID floor (train vs test, {options.Count} each) {floor:F3}."));

        int[]? labels = model.Conditioner is ClassConditioner c ? Enumerable.Range(0, options.Count).Select(i => i % c.Classes).ToArray() : null;
        var report = new SweepReport
        {
            Run = Path.GetFullPath(options.Run),
            Preset = runOptions.Preset,
            Dataset = dataset,
            Machine = $"{Environment.ProcessorCount} cores, {Environment.OSVersion}",
            DateUtc = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture),
            Count = options.Count,
            Guidance = options.Guidance,
            Seed = options.Seed,
            Precision = network.ParameterType.ToString(),
            Threads = get_num_threads(),
            BatchSize = options.BatchSize,
            ReferenceSamplers = options.ReferenceSamplers,
            ReferenceAbove = options.ReferenceAbove,
            Features = extractor.Name,
            ClassifierTestAccuracy = info.TestAccuracy,
            FloorFid = floor,
            Settings = [],
        };
        report.Save(outDirectory);

        for (int i = 0; i < plan.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            var setting = plan[i];
            log($"[{i + 1}/{plan.Count}] {setting.Sampler}, {setting.Nfe} NFE ({setting.Steps} steps, {setting.Evaluations} evaluations) ...");
            using var scope = NewDisposeScope();
            var clock = Stopwatch.StartNew();
            var cpu = CpuTime();
            var images = Sample(model, setting, labels, out int evaluations, ct);
            double seconds = clock.Elapsed.TotalSeconds;
            double cpuSeconds = (CpuTime() - cpu).TotalSeconds;
            if (evaluations != setting.Evaluations)
                throw new InvalidOperationException($"{setting.Sampler} made {evaluations} network evaluations for {setting.Steps} steps; the plan counted {setting.Evaluations}.");

            clock.Restart();
            double fid = FrechetDistance.Compute(reference, FeatureStatistics.FromImages(extractor, images, ct)).Value;
            double? accuracy = labels is null ? null
                : ClassAccuracy.Evaluate(classifier, images, tensor(labels.Select(l => (long)l).ToArray()), cancellationToken: ct).Accuracy;
            var result = new SettingResult(setting.Sampler, setting.Nfe, setting.Steps, evaluations, fid, accuracy, seconds, cpuSeconds, clock.Elapsed.TotalSeconds);
            report.Settings.Add(result);
            report = report with { Target = SweepReport.CheckTarget(report.Settings) };
            report.Save(outDirectory);
            log(string.Create(CultureInfo.InvariantCulture,
                $"    FID {fid:F3}, accuracy {(accuracy is double a ? a.ToString("P1", CultureInfo.InvariantCulture) : "-")}, {seconds:F1} s sampling, {cpuSeconds:F1} CPU s ({1000 * seconds / Math.Max(1, evaluations) / options.Count:F2} ms, {1000 * cpuSeconds / Math.Max(1, evaluations) / options.Count:F2} CPU ms per image-evaluation)"));
        }
        report = report with { Complete = true };
        report.Save(outDirectory);
        return report;
    }

    /// <summary>Settings from the cheapest NFE up: every sampler at NFE ≤ ReferenceAbove, the reference samplers above it.</summary>
    private List<Setting> Plan(PipelineComponents model)
    {
        var plan = new List<Setting>();
        foreach (int nfe in options.Nfe.Order())
        {
            foreach (var sampler in nfe > options.ReferenceAbove ? options.ReferenceSamplers : options.Samplers)
            {
                if (EvaluationBudget.StepsFor(sampler, model.Scheduler, nfe) is { } fit) plan.Add(new Setting(sampler, nfe, fit.Steps, fit.Evaluations));
                else log($"Skipping {sampler} at {nfe} NFE: one step already costs more.");
            }
        }
        return plan.Count > 0 ? plan : throw new DiffusionException("Nothing to run: no sampler fits any of the --nfe budgets.");
    }

    /// <summary>
    /// Samples the setting's <see cref="SweepOptions.Count"/> images (class i mod K for image i) in batches. Batch b
    /// draws from its own generator seeded with Seed·100000 + b, so every sampler starts from the same x_T (each
    /// sampler's first draw), whatever noise the stochastic ones draw later.
    /// </summary>
    private Tensor Sample(PipelineComponents model, Setting setting, int[]? labels, out int evaluations, CancellationToken ct)
    {
        IDenoiser guided = model.Conditioner is { } cond && options.Guidance != 1 ? new ClassifierFreeGuidance(model.Denoiser, options.Guidance, cond) : model.Denoiser;
        var counter = new CountingDenoiser(guided);
        var view = new DenoiserView(counter, model.Scheduler, model.ClipSample);
        var sampler = SamplerRegistry.Create(setting.Sampler);
        var shape = model.SampleShape;
        var parts = new List<Tensor>();
        evaluations = 0;
        try
        {
            int batches = (options.Count + options.BatchSize - 1) / options.BatchSize;
            for (int b = 0; b < batches; b++)
            {
                int start = b * options.BatchSize, n = Math.Min(options.BatchSize, options.Count - start);
                using var scope = NewDisposeScope();
                using var generator = Devices.Generator(options.Seed * 100_000 + b);
                var condition = labels is null ? Condition.None : ((ClassConditioner)model.Conditioner!).Encode(labels[start..(start + n)], CPU);
                int before = counter.Calls;
                var x = sampler.Sample(view, new SamplingRequest
                {
                    Shape = [n, shape[0], shape[1], shape[2]],
                    Steps = setting.Steps,
                    Condition = condition,
                    Generator = generator,
                }, cancellationToken: ct);
                parts.Add(x.clamp(-1, 1).MoveToOuterDisposeScope());
                evaluations = counter.Calls - before;
                if (batches > 1) log($"    batch {b + 1}/{batches}");
            }
            return cat(parts, 0);
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }

    private static TimeSpan CpuTime()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime;
    }

    /// <summary><see cref="SweepOptions.Count"/> images of <paramref name="data"/> drawn without replacement.</summary>
    private Tensor Subset(ImageDataset data, long seed)
    {
        using var scope = NewDisposeScope();
        var indices = randperm(data.Count, generator: Devices.Generator(seed)).narrow(0, 0, options.Count);
        return data.Batch(indices).X.MoveToOuterDisposeScope();
    }
}
