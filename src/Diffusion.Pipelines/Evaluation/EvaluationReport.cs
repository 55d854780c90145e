using Diffusion.Evaluation;
using Diffusion.Samplers;

namespace Diffusion.Pipelines.Evaluation;

/// <summary>What <see cref="RunEvaluator.Evaluate"/> measured on a run, as written to its eval.json and eval.md.</summary>
public sealed record EvaluationReport
{
    /// <summary>The run folder, as the caller named it.</summary>
    public required string RunDirectory { get; init; }

    /// <summary>The sampler's registered name.</summary>
    public required string Sampler { get; init; }

    /// <summary>Sampling steps.</summary>
    public required int Steps { get; init; }

    /// <summary>The guidance interval used, in σ; null when guidance ran at every step or the run is unconditional.</summary>
    public SigmaInterval? GuidanceInterval { get; init; }

    /// <summary>The guidance rescale φ used; 0 when off or the run is unconditional.</summary>
    public double GuidanceRescale { get; init; }

    /// <summary>Whether the run is class-conditional (else it was scored once, without guidance).</summary>
    public required bool Conditional { get; init; }

    /// <summary><see cref="EvaluationOptions.CountPerClass"/> as asked.</summary>
    public required int CountPerClass { get; init; }

    /// <summary>Samples per guidance scale: classes × <see cref="CountPerClass"/>, or <see cref="CountPerClass"/> for an unconditional run.</summary>
    public required int Count { get; init; }

    /// <summary>Seed of the initial noise.</summary>
    public required long Seed { get; init; }

    /// <summary>Images per sampling batch.</summary>
    public required int BatchSize { get; init; }

    /// <summary>The metrics asked for (<see cref="MetricNames"/>).</summary>
    public required IReadOnlyList<string> Metrics { get; init; }

    /// <summary>Name of the extractor FID, KID and precision/recall used (e.g. "classifier-mnist"); null when none was asked for.</summary>
    public string? Features { get; init; }

    /// <summary>The dataset classifier's accuracy on the test split, in [0, 1]; null when no metric needed the classifier.</summary>
    public double? ClassifierTestAccuracy { get; init; }

    /// <summary>True when the evaluation was cancelled after finishing <see cref="Results"/> but before the last scale.</summary>
    public bool Partial { get; init; }

    /// <summary>One entry per finished guidance scale, in the order asked.</summary>
    public required IReadOnlyList<GuidanceScaleResult> Results { get; init; }

    /// <summary>Where the JSON report was written (<c>&lt;run&gt;/eval.json</c>).</summary>
    public string JsonPath => Path.Combine(RunDirectory, RunEvaluator.JsonFile);

    /// <summary>Where the Markdown report was written (<c>&lt;run&gt;/eval.md</c>).</summary>
    public string MarkdownPath => Path.Combine(RunDirectory, RunEvaluator.MarkdownFile);
}

/// <summary>The measurements at one guidance scale.</summary>
public sealed record GuidanceScaleResult
{
    /// <summary>The guidance scale w (1 for an unconditional run).</summary>
    public required double Guidance { get; init; }

    /// <summary>How reports name the scale: "guidance 3", or "unconditional".</summary>
    public required string Label { get; init; }

    /// <summary>Samples drawn and measured.</summary>
    public required long Count { get; init; }

    /// <summary>Class accuracy overall, per class and as a confusion matrix; null unless accuracy was asked for.</summary>
    public ClassAccuracyReport? ClassAccuracy { get; init; }

    /// <summary>Fraction of samples the classifier recognised as their requested class; null unless accuracy was asked for.</summary>
    public double? Accuracy => ClassAccuracy?.Accuracy;

    /// <summary>Class accuracy per class; null unless accuracy was asked for.</summary>
    public IReadOnlyList<ClassAccuracyEntry>? PerClass => ClassAccuracy?.PerClass;

    /// <summary>Every metric value with its floor, class accuracy first when asked for, then in the order of <see cref="MetricNames.All"/>.</summary>
    public required IReadOnlyList<MetricValue> Metrics { get; init; }

    /// <summary>Wall-clock seconds spent sampling.</summary>
    public required double SampleSeconds { get; init; }

    /// <summary>Wall-clock seconds spent measuring (features, metrics, floors).</summary>
    public required double MetricSeconds { get; init; }
}
