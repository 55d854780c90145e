using Diffusion.Core;
using Diffusion.Core.Data;
using Diffusion.Core.Schedules;
using Diffusion.Core.Training;
using Diffusion.Models;

namespace Diffusion.Pipelines;

/// <summary>Everything that defines a training run; saved as run.json in the run folder and read back by sample and eval.</summary>
public sealed record RunOptions
{
    /// <summary>The preset this run started from.</summary>
    public required string Preset { get; init; }

    /// <summary>Dataset name: one of <see cref="Datasets.Names"/> or <c>folder:&lt;path&gt;</c>.</summary>
    public required string Dataset { get; init; }

    /// <summary>The network.</summary>
    public required UNetOptions Model { get; init; }

    /// <summary>The noise schedule.</summary>
    public required ScheduleOptions Schedule { get; init; }

    /// <summary>The training loop.</summary>
    public required TrainingOptions Training { get; init; }

    /// <summary>Default sampler for previews and eval.</summary>
    public string PreviewSampler { get; init; } = "ddim";

    /// <summary>Default steps for previews.</summary>
    public int PreviewSteps { get; init; } = 25;

    /// <summary>Default guidance scale for previews.</summary>
    public double PreviewGuidance { get; init; } = 3;

    /// <summary>Loads one split of this run's dataset at the network's image size and channel count.</summary>
    /// <exception cref="DiffusionException">The data are missing or do not fit the network.</exception>
    public ImageDataset LoadData(string? dataDir, DatasetSplit split, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
        => Datasets.Load(Dataset, dataDir, split, Model.SampleSize, Model.InChannels, progress: progress, cancellationToken: cancellationToken);

    /// <summary>Name of the options file in a run folder.</summary>
    public const string FileName = "run.json";

    /// <summary>Reads the options of the run in <paramref name="runDirectory"/>.</summary>
    /// <exception cref="DiffusionException">The folder is not a run folder or its run.json is invalid.</exception>
    public static RunOptions Load(string runDirectory)
    {
        var path = Path.Combine(runDirectory, FileName);
        if (!File.Exists(path))
            throw new DiffusionException($"'{runDirectory}' is not a run folder: {FileName} is missing. Pass the folder that 'diffusion train' wrote (--out).");
        return OptionsJson.Load<RunOptions>(path);
    }
}

/// <summary>Named starting points for runs: the roadmap's datasets with settings that fit a 2-core CPU.</summary>
public static class Presets
{
    private static readonly Dictionary<string, Func<RunOptions>> All = new(StringComparer.OrdinalIgnoreCase)
    {
        ["mnist"] = () => new RunOptions
        {
            Preset = "mnist",
            Dataset = "mnist",
            // One block per level and attention only in the middle (7x7): ~2.5x cheaper steps than UNetPresets.Mnist,
            // so more of them fit in 10 minutes on a 2-core CPU; min-SNR weighting (gamma 5) speeds convergence.
            Model = UNetPresets.Mnist with { LayersPerBlock = 1, AttentionLevels = [] },
            Schedule = new ScheduleOptions { Kind = BetaSchedule.Linear },
            Training = new TrainingOptions
            {
                BatchSize = 64, MaxMinutes = 10, LearningRate = 2e-3, WarmupSteps = 100, EmaDecay = 0.999, MinSnrGamma = 5,
                LabelDropout = 0.1, Precision = Precision.Auto, LogEvery = 50, CheckpointEvery = 500, SampleEvery = 1000,
            },
        },
        ["fashion"] = () => All!["mnist"]() with
        {
            Preset = "fashion",
            Dataset = "fashion-mnist",
            Training = All!["mnist"]().Training with { MaxMinutes = 20 },
        },
        ["cifar10"] = () => new RunOptions
        {
            Preset = "cifar10",
            Dataset = "cifar10",
            Model = UNetPresets.Cifar10,
            Schedule = new ScheduleOptions { Kind = BetaSchedule.Linear },
            Training = new TrainingOptions
            {
                BatchSize = 64, MaxMinutes = 60, LearningRate = 2e-3, WarmupSteps = 200, EmaDecay = 0.999, MinSnrGamma = 5,
                LabelDropout = 0.1, Augmentation = new AugmentationOptions { HorizontalFlip = true }, Precision = Precision.Auto, LogEvery = 50, CheckpointEvery = 500, SampleEvery = 1000,
            },
        },
        ["faces"] = () => new RunOptions
        {
            Preset = "faces",
            Dataset = "celeba",
            // v-prediction: at 64 px eps-prediction gave single-hue colour casts and FID 628; v gave natural colours
            // and FID 350 on the same 60-minute budget (docs/results.md, "Faces").
            Model = UNetPresets.Faces64 with { Prediction = Prediction.V },
            Schedule = new ScheduleOptions { Kind = BetaSchedule.Linear },
            Training = new TrainingOptions
            {
                BatchSize = 32, MaxMinutes = 60, LearningRate = 2e-3, WarmupSteps = 200, EmaDecay = 0.999, MinSnrGamma = 5,
                Augmentation = new AugmentationOptions { HorizontalFlip = true }, Precision = Precision.Auto, LogEvery = 50, CheckpointEvery = 500, SampleEvery = 1000,
            },
            PreviewGuidance = 0,
        },
        ["faces32"] = () => All!["faces"]() with { Preset = "faces32", Model = UNetPresets.Faces32 with { Prediction = Prediction.V } },
        ["tiny"] = () => new RunOptions
        {
            Preset = "tiny",
            Dataset = "mnist",
            Model = UNetPresets.Tiny with { NumClasses = 10 },
            Schedule = new ScheduleOptions { Kind = BetaSchedule.Linear },
            Training = new TrainingOptions
            {
                BatchSize = 32, MaxSteps = 40, LearningRate = 2e-3, WarmupSteps = 10, LogEvery = 10, CheckpointEvery = 20,
                SampleEvery = null, Precision = Precision.Auto,
            },
            PreviewSteps = 5,
        },
    };

    /// <summary>The preset names.</summary>
    public static IReadOnlyCollection<string> Names => All.Keys;

    /// <summary>A fresh copy of the named preset.</summary>
    /// <exception cref="DiffusionException">The name is unknown; the message lists the valid ones.</exception>
    public static RunOptions Get(string name)
        => All.TryGetValue(name, out var make) ? make()
        : throw new DiffusionException($"Unknown preset '{name}'. Valid: {string.Join(", ", All.Keys)}.");
}
