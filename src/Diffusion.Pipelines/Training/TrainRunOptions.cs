using Diffusion.Core;
using Diffusion.Core.Schedules;
using Diffusion.Core.Training;

namespace Diffusion.Pipelines.Training;

/// <summary>What to train: a preset plus the overrides a user may give. Immutable; every null keeps the preset's value
/// (or, when resuming, the run's saved value).</summary>
public sealed record TrainRunOptions
{
    /// <summary>The preset to start from (<see cref="Presets.Names"/>). Default "mnist".</summary>
    public string Preset { get; init; } = "mnist";

    /// <summary>The run folder; an existing run there is resumed. Null: <c>runs/&lt;preset&gt;</c>.</summary>
    public string? OutputDirectory { get; init; }

    /// <summary>Time budget in minutes (then <see cref="Steps"/>, if also set, is a second limit).</summary>
    public double? Minutes { get; init; }

    /// <summary>Step budget (used alone when <see cref="Minutes"/> is null).</summary>
    public int? Steps { get; init; }

    /// <summary>Batch size.</summary>
    public int? BatchSize { get; init; }

    /// <summary>Peak learning rate.</summary>
    public double? LearningRate { get; init; }

    /// <summary>Share of labels replaced by the null class, in [0, 1].</summary>
    public double? LabelDropout { get; init; }

    /// <summary>Noise schedule of a new run; a resumed run must keep its own.</summary>
    public BetaSchedule? Schedule { get; init; }

    /// <summary>What the network of a new run predicts; a resumed run must keep its own.</summary>
    public Prediction? Prediction { get; init; }

    /// <summary>A dataset other than the preset's (<see cref="Core.Data.Datasets.Names"/> or <c>folder:&lt;path&gt;</c>); the
    /// network's classes follow the data. Ignored when resuming.</summary>
    public string? Dataset { get; init; }

    /// <summary>The text encoder of a text preset (<c>mnist-text</c>, <c>fashion-text</c>): <c>minilm</c> (the preset's,
    /// pretrained and frozen) or <c>learned</c> (trained with the UNet); recorded in run.json, and a resumed run must keep
    /// its own. Null keeps the preset's (or the run's).</summary>
    public string? TextEncoder { get; init; }

    /// <summary>Folder holding the datasets; null: <c>$DIFFUSION_DATA</c>, else <c>./data</c>.</summary>
    public string? DataDirectory { get; init; }

    /// <summary>Random seed. Default 0.</summary>
    public long Seed { get; init; }

    /// <summary>Compute precision. Default <see cref="Precision.Auto"/>.</summary>
    public Precision Precision { get; init; } = Precision.Auto;

    /// <summary>Recompute the network's blocks in backward instead of keeping their activations
    /// (<see cref="TrainingOptions.GradientCheckpointing"/>): less memory, about a third slower, the same result; may be
    /// switched on or off when a run is resumed. Default false.</summary>
    public bool GradientCheckpointing { get; init; }

    /// <summary>Which checkpoint a resumed run starts from (the previous one when the latest is corrupted). Default latest.</summary>
    public ResumePoint ResumeFrom { get; init; } = ResumePoint.Latest;

    /// <summary>"auto", "cpu", "cuda" or "cuda:N". Default "auto".</summary>
    public string Device { get; init; } = "auto";
}

/// <summary>What a finished (or stopped) training run reports.</summary>
/// <param name="RunDirectory">The run folder.</param>
/// <param name="ModelDirectory">The EMA model in the pipeline layout (<see cref="DiffusionPipeline.Load"/> reads it).</param>
/// <param name="Options">The run's options as saved in run.json.</param>
/// <param name="Training">Steps, time, throughput, peak memory.</param>
public sealed record TrainRunResult(string RunDirectory, string ModelDirectory, RunOptions Options, TrainingResult Training);
