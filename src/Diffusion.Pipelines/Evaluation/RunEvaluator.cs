using System.Diagnostics;
using System.Globalization;
using Diffusion.Core;
using Diffusion.Core.Conditioning;
using Diffusion.Core.Data;
using Diffusion.Evaluation;
using Diffusion.Samplers;
using static TorchSharp.torch;

namespace Diffusion.Pipelines.Evaluation;

/// <summary>
/// Evaluates a trained run: samples it at every guidance scale from the same noise and measures class accuracy (with
/// the dataset's classifier, trained once and cached beside the run), FID, KID, the Inception Score and
/// precision/recall (each with its floor: the same metric between real images), then writes <see cref="JsonFile"/> and
/// <see cref="MarkdownFile"/> into the run folder. What 'diffusion eval' runs.
/// </summary>
public static class RunEvaluator
{
    /// <summary>File name of the JSON report in the run folder.</summary>
    public const string JsonFile = "eval.json";

    /// <summary>File name of the Markdown report in the run folder.</summary>
    public const string MarkdownFile = "eval.md";

    /// <summary>Evaluates the run in <paramref name="runDirectory"/> and writes its reports.</summary>
    /// <param name="runDirectory">A folder written by 'diffusion train' (run.json and a checkpoint).</param>
    /// <param name="options">What to measure and how to sample.</param>
    /// <param name="log">Progress lines: classifier training, sampling batches, feature extraction.</param>
    /// <param name="cancellationToken">Checked between sampling steps and metric batches. Cancelling after at least one
    /// guidance scale finished writes and returns a report of the finished scales with <see cref="EvaluationReport.Partial"/>
    /// set; cancelling before throws and writes nothing.</param>
    /// <returns>The report, one <see cref="GuidanceScaleResult"/> per finished scale (one in all for an unconditional run).</returns>
    /// <exception cref="DiffusionException">The run, the data or an option is unusable, or the options do not fit the run
    /// (e.g. class accuracy of an unconditional run, more samples than the test split holds); checked before sampling.</exception>
    /// <exception cref="OperationCanceledException">Cancelled before the first scale finished.</exception>
    public static EvaluationReport Evaluate(string runDirectory, EvaluationOptions options, IProgress<string>? log = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(runDirectory);
        ArgumentNullException.ThrowIfNull(options);
        var metrics = options.Metrics;
        bool wantAccuracy = metrics.Contains(MetricNames.Accuracy);
        var sampleMetrics = metrics.Where(m => m != MetricNames.Accuracy).ToList();
        bool wantFeatures = sampleMetrics.Any(MetricNames.FeatureMetrics.Contains);
        if (wantFeatures && options.Features == FeatureKind.Inception && options.InceptionWeights is null)
            throw new DiffusionException("Features = Inception needs InceptionWeights (pytorch-fid's pt_inception-2015-12-05-6726825d.pth or a .safetensors copy).");

        var runOptions = RunOptions.Load(runDirectory);
        using var model = DiffusionPipeline.Load(runDirectory, "auto", options.Precision);
        var schedule = model.Components.Scheduler;
        var conditioner = model.Components.Conditioner as ClassConditioner;
        var featureKind = options.Features ?? (conditioner is null ? FeatureKind.ResNet18 : FeatureKind.Classifier);
        if (featureKind == FeatureKind.Classifier && conditioner is null && wantFeatures)
            throw new DiffusionException("Features = Classifier needs a class-conditional run (the classifier is trained on the dataset's classes); use Features = ResNet18.");
        if (wantAccuracy && conditioner is null) throw new DiffusionException("Class accuracy needs a class-conditional run; drop 'accuracy' from Metrics.");
        bool needClassifier = wantAccuracy || sampleMetrics.Contains(MetricNames.InceptionScore) || (wantFeatures && featureKind == FeatureKind.Classifier);
        if (needClassifier && conditioner is null)
            throw new DiffusionException("IS needs the dataset's classifier, which exists only for class-conditional runs; drop 'is' from Metrics.");
        if (options.Steps > schedule.TrainSteps)
            throw new DiffusionException($"Steps = {options.Steps} is more than the run's {schedule.TrainSteps} training timesteps; use at most {schedule.TrainSteps}.");
        var sampler = SamplerRegistry.Create(options.Sampler);

        // Guidance needs classes: every scale would sample the same images, so an unconditional run is scored once and
        // its guidance options are ignored.
        IReadOnlyList<double> scales = conditioner is null ? [1.0] : options.GuidanceScales;
        var interval = conditioner is null ? null : options.GuidanceInterval;
        double rescale = conditioner is null ? 0 : options.GuidanceRescale;
        var guidanceOptions = interval is null && rescale == 0 ? null
            : new GuidanceOptions { Interval = interval?.ToTimesteps(schedule), Rescale = rescale };
        int[]? labels = conditioner is { } c ? Enumerable.Range(0, c.Classes * options.CountPerClass).Select(i => i % c.Classes).ToArray() : null;
        int total = labels?.Length ?? options.CountPerClass;

        using var real = new RealData(runOptions, DataDirectory.Resolve(options.DataDirectory), cancellationToken);
        string judgeName = $"classifier-{real.Key}";
        var classifier = needClassifier
            ? ClassifierStore.GetOrLoad(options.ClassifierDirectoryFor(runDirectory), real.Key, () => real.Train, () => real.Test, log: log,
                cancellationToken: cancellationToken)
            : ((Classifier Classifier, ClassifierInfo Info, string Folder)?)null;
        using var judge = classifier?.Classifier;
        using var measure = sampleMetrics.Count > 0
            ? SampleMetrics.Open(real, options.ReferenceDirectoryFor(runDirectory), featureKind, wantFeatures, options.InceptionWeights,
                classifier is { } k ? (k.Classifier, k.Folder, judgeName) : null)
            : null;
        measure?.Evaluator.CheckSampleCount(total, sampleMetrics);  // before minutes of sampling, not after

        var results = new List<GuidanceScaleResult>();
        EvaluationReport Report(bool partial) => new()
        {
            RunDirectory = runDirectory, Sampler = sampler.Name, Steps = options.Steps, GuidanceInterval = interval, GuidanceRescale = rescale,
            Conditional = conditioner is not null, CountPerClass = options.CountPerClass, Count = total, Seed = options.Seed,
            BatchSize = options.BatchSize, Metrics = metrics, Features = wantFeatures ? measure!.Evaluator.Features!.Name : null,
            ClassifierTestAccuracy = classifier?.Info.TestAccuracy, Partial = partial, Results = results.ToArray(),
        };
        bool finished = false;
        try
        {
            foreach (var g in scales)
            {
                var clock = Stopwatch.StartNew();
                string label = labels is null ? "unconditional" : string.Create(CultureInfo.InvariantCulture, $"guidance {g}");
                using var images = Sample(model, sampler, labels, total, g, guidanceOptions, options, label, log, cancellationToken);
                double sampleSeconds = clock.Elapsed.TotalSeconds;
                clock.Restart();

                var reported = new List<IMetricResult>();
                ClassAccuracyReport? accuracy = null;
                if (wantAccuracy)
                {
                    using var requested = tensor(labels!.Select(l => (long)l).ToArray());
                    accuracy = ClassAccuracy.Evaluate(judge!, images, requested, conditioner!.Names, cancellationToken: cancellationToken);
                    reported.Add(new ClassAccuracyMetric(accuracy.Accuracy, accuracy.Count, classifier!.Value.Info.TestAccuracy, judgeName));
                }
                if (measure is not null) reported.AddRange(measure.Evaluator.Evaluate(images, sampleMetrics, log, cancellationToken));
                results.Add(new GuidanceScaleResult
                {
                    Guidance = g, Label = label, Count = total, ClassAccuracy = accuracy, Metrics = reported.SelectMany(r => r.Values).ToArray(),
                    SampleSeconds = sampleSeconds, MetricSeconds = clock.Elapsed.TotalSeconds,
                });
            }
            finished = true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && results.Count > 0)
        {
            // Reported below: a cancelled evaluation still leaves a consistent report of the scales it finished.
        }
        finally
        {
            // Also on an error at a later scale, before the exception propagates.
            if (results.Count > 0 || finished) EvaluationFiles.Write(Report(partial: !finished));
        }
        return Report(partial: !finished);
    }

    /// <summary>Draws <paramref name="count"/> images (class <c>labels[i]</c> for image i) at guidance scale
    /// <paramref name="guidance"/> from the options' seed, reporting each finished batch.</summary>
    private static Tensor Sample(DiffusionPipeline model, ISampler sampler, int[]? labels, int count, double guidance, GuidanceOptions? guidanceOptions,
        EvaluationOptions options, string label, IProgress<string>? log, CancellationToken cancellationToken)
    {
        log?.Report(string.Create(CultureInfo.InvariantCulture, $"{label}: sampling {count} images with {sampler.Name}, {options.Steps} steps, batches of {options.BatchSize}"));
        var batches = log is null ? null : new SamplingLog(log, count, options.BatchSize, label);
        var result = model.Generate(new GenerationRequest
        {
            Count = count, Classes = labels, SamplerInstance = sampler, Steps = options.Steps, GuidanceScale = guidance, Guidance = guidanceOptions,
            Seed = options.Seed, BatchSize = options.BatchSize,
        }, batches is null ? null : new SyncProgress<GenerationProgress>(g => batches.Report(new SamplingProgress(g.Step, g.Steps))), cancellationToken);
        return result.Images; // the result holds nothing else (no trajectory): its tensor is the caller's to dispose
    }
}
