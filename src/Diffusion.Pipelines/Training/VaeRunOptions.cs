using Diffusion.Core;
using Diffusion.Core.Data;
using Diffusion.Core.Training;
using Diffusion.Models;

namespace Diffusion.Pipelines.Training;

/// <summary>Everything that defines a VAE training run; saved as <see cref="FileName"/> in the run folder.</summary>
public sealed record VaeRunOptions
{
    /// <summary>Name of the options file in a VAE run folder (not run.json: a VAE run is not a diffusion run).</summary>
    public const string FileName = "vae-run.json";

    /// <summary>The preset this run started from.</summary>
    public required string Preset { get; init; }

    /// <summary>Dataset name (<see cref="Datasets.Names"/> or <c>folder:&lt;path&gt;</c>), read at the model's sample size and channels.</summary>
    public required string Dataset { get; init; }

    /// <summary>The autoencoder; its <see cref="AutoencoderKLOptions.ScalingFactor"/> is replaced by the estimate at the end.</summary>
    public required AutoencoderKLOptions Model { get; init; }

    /// <summary>The loss.</summary>
    public VaeObjectiveOptions Objective { get; init; } = new();

    /// <summary>The training loop (its <see cref="TrainingOptions.Augmentation"/> applies to the images).</summary>
    public required TrainingOptions Training { get; init; }

    /// <summary>Training batches whose latents (posterior samples) estimate the scaling factor 1 / std at the end, ≥ 1. Default 8.</summary>
    public int ScaleBatches { get; init; } = 8;

    /// <summary>Held-out (test split) images whose reconstructions are scored with PSNR and SSIM, ≥ 1. Default 500.</summary>
    public int EvalCount { get; init; } = 500;

    /// <summary>Held-out images in the reconstructions grid (originals above reconstructions), ≥ 1. Default 8.</summary>
    public int GridCount { get; init; } = 8;

    /// <summary>Throws <see cref="DiffusionException"/> when a value is out of range.</summary>
    public void Validate()
    {
        Model.Validate();
        Objective.Validate();
        Training.Validate();
        if (ScaleBatches < 1 || EvalCount < 1 || GridCount < 1)
            throw new DiffusionException($"ScaleBatches, EvalCount and GridCount must be at least 1, got {ScaleBatches}, {EvalCount}, {GridCount}.");
    }

    /// <summary>Reads the options of the VAE run in <paramref name="runDirectory"/>.</summary>
    /// <exception cref="DiffusionException">The folder is not a VAE run folder or its file is invalid.</exception>
    public static VaeRunOptions Load(string runDirectory)
    {
        var path = Path.Combine(runDirectory, FileName);
        if (!File.Exists(path))
            throw new DiffusionException($"'{runDirectory}' is not a VAE run folder: {FileName} is missing. Pass the folder that 'diffusion train-vae' wrote (--out).");
        return OptionsJson.Load<VaeRunOptions>(path);
    }
}

/// <summary>Named starting points for VAE runs on a 2-core CPU.</summary>
public static class VaePresets
{
    private static TrainingOptions Loop(int batch, double minutes) => new()
    {
        BatchSize = batch, MaxMinutes = minutes, LearningRate = 5e-4, WarmupSteps = 200, EmaDecay = 0.999, GradientClip = 1.0,
        Augmentation = new AugmentationOptions { HorizontalFlip = true }, Precision = Precision.Auto,
        LogEvery = 50, CheckpointEvery = 500, SampleEvery = null,
    };

    private static readonly Dictionary<string, Func<VaeRunOptions>> All = new(StringComparer.OrdinalIgnoreCase)
    {
        // 64 px CelebA crops to 16x16x4 latents (x4): what a latent UNet at 16x16 diffuses instead of 64x64x3 pixels.
        ["faces-vae"] = () => new VaeRunOptions
        {
            Preset = "faces-vae",
            Dataset = "celeba",
            Model = new AutoencoderKLOptions { BlockOutChannels = [32, 64, 128], LayersPerBlock = 1, LatentChannels = 4, NormGroups = 32, SampleSize = 64 },
            Training = Loop(batch: 16, minutes: 60),
        },
        // 128 px to the same 16x16x4 latents (x8).
        ["faces128-vae"] = () => new VaeRunOptions
        {
            Preset = "faces128-vae",
            Dataset = "celeba",
            Model = new AutoencoderKLOptions { BlockOutChannels = [32, 64, 128, 128], LayersPerBlock = 1, LatentChannels = 4, NormGroups = 32, SampleSize = 128 },
            Training = Loop(batch: 8, minutes: 60),
        },
        // Smoke tests: MNIST digits (no flips), 28 px to 14x14x4, a few steps.
        ["tiny-vae"] = () => new VaeRunOptions
        {
            Preset = "tiny-vae",
            Dataset = "mnist",
            Model = new AutoencoderKLOptions { ImageChannels = 1, BlockOutChannels = [16, 16], LayersPerBlock = 1, LatentChannels = 4, NormGroups = 8, SampleSize = 28 },
            Training = Loop(batch: 16, minutes: 60) with
            {
                MaxMinutes = null, MaxSteps = 20, WarmupSteps = 5, LearningRate = 1e-3, Augmentation = AugmentationOptions.None, LogEvery = 5, CheckpointEvery = 10,
            },
            ScaleBatches = 2, EvalCount = 32,
        },
    };

    /// <summary>The preset names.</summary>
    public static IReadOnlyCollection<string> Names => All.Keys;

    /// <summary>A fresh copy of the named preset.</summary>
    /// <exception cref="DiffusionException">The name is unknown; the message lists the valid ones.</exception>
    public static VaeRunOptions Get(string name)
        => All.TryGetValue(name, out var make) ? make()
        : throw new DiffusionException($"Unknown VAE preset '{name}'. Valid: {string.Join(", ", All.Keys)}.");
}

/// <summary>What VAE run to train: a preset plus overrides; every null keeps the preset's (or the resumed run's) value.</summary>
public sealed record VaeTrainRunOptions
{
    /// <summary>The preset (<see cref="VaePresets.Names"/>). Default "faces-vae".</summary>
    public string Preset { get; init; } = "faces-vae";

    /// <summary>The run folder; an existing VAE run there is resumed. Null: <c>runs/&lt;preset&gt;</c>.</summary>
    public string? OutputDirectory { get; init; }

    /// <summary>Time budget in minutes (then <see cref="Steps"/>, if also set, is a second limit).</summary>
    public double? Minutes { get; init; }

    /// <summary>Step budget (used alone when <see cref="Minutes"/> is null).</summary>
    public int? Steps { get; init; }

    /// <summary>Batch size.</summary>
    public int? BatchSize { get; init; }

    /// <summary>Peak learning rate.</summary>
    public double? LearningRate { get; init; }

    /// <summary>Reconstruction distance of a new run.</summary>
    public ReconstructionLoss? Reconstruction { get; init; }

    /// <summary>KL weight of a new run.</summary>
    public double? KlWeight { get; init; }

    /// <summary>A dataset other than the preset's (<see cref="Datasets.Names"/> or <c>folder:&lt;path&gt;</c>), read at the
    /// preset's size and channels. Ignored when resuming.</summary>
    public string? Dataset { get; init; }

    /// <summary>Folder holding the datasets; null: <c>$DIFFUSION_DATA</c>, else <c>./data</c>.</summary>
    public string? DataDirectory { get; init; }

    /// <summary>Random seed. Default 0.</summary>
    public long Seed { get; init; }

    /// <summary>Compute precision. Default <see cref="Precision.Auto"/>.</summary>
    public Precision Precision { get; init; } = Precision.Auto;

    /// <summary>"auto", "cpu", "cuda" or "cuda:N". Default "auto".</summary>
    public string Device { get; init; } = "auto";
}

/// <summary>How well a trained VAE reconstructs held-out images; written as <c>vae-result.json</c>.</summary>
/// <param name="Steps">Optimizer steps trained.</param>
/// <param name="ElapsedSeconds">Training wall-clock time across resumes.</param>
/// <param name="ImagesPerSecond">Training throughput of the last call.</param>
/// <param name="FinalLoss">The last logged loss.</param>
/// <param name="ScalingFactor">1 / std of the latents, as saved in the model's config.</param>
/// <param name="LatentShape">(C, h, w) of one image's latent.</param>
/// <param name="EvalCount">Held-out images scored.</param>
/// <param name="Psnr">Mean PSNR in dB of the held-out reconstructions (posterior mean, clamped to [−1, 1]; data range 2).</param>
/// <param name="Ssim">Mean SSIM of the same.</param>
public sealed record VaeEvaluation(int Steps, double ElapsedSeconds, double ImagesPerSecond, double FinalLoss, double ScalingFactor,
    long[] LatentShape, int EvalCount, double Psnr, double Ssim);

/// <summary>What a finished (or stopped) VAE run reports.</summary>
/// <param name="RunDirectory">The run folder.</param>
/// <param name="ModelDirectory">The EMA autoencoder as a component folder (<c>config.json</c> + safetensors): a pipeline's <c>vae/</c>.</param>
/// <param name="Options">The run's options as saved.</param>
/// <param name="Training">Steps, time, throughput.</param>
/// <param name="Evaluation">Scaling factor, PSNR and SSIM; null when the run was cancelled.</param>
public sealed record VaeRunResult(string RunDirectory, string ModelDirectory, VaeRunOptions Options, TrainingResult Training, VaeEvaluation? Evaluation);
