using Diffusion.Core;
using Diffusion.Core.Data;
using Diffusion.Core.Schedules;
using Diffusion.Core.Training;
using Diffusion.Models;
using Diffusion.Text.Encoders;

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

    /// <summary>Text conditioning: the images are captioned from their labels and the network reads the captions through
    /// cross-attention. Null (default) for class-conditional and unconditional runs.</summary>
    public TextOptions? Text { get; init; }

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
        // Text to digit: the mnist network without a class embedding, reading captions through cross-attention at 14x14 and
        // 7x7 and in the middle (28x28 attention would cost 16x the 7x7 one per block for little gain at this size).
        // The pretrained MiniLM encoder by default; CrossAttentionDim follows the encoder (TextOptions.ContextWidth).
        ["mnist-text"] = () => All!["mnist"]() with
        {
            Preset = "mnist-text",
            Model = All!["mnist"]().Model with
            {
                NumClasses = null, AttentionLevels = [1, 2], CrossAttentionDim = TextOptions.MiniLmWidth, CrossAttentionLevels = [1, 2],
            },
            Text = new TextOptions(),
            PreviewGuidance = 4,
        },
        ["fashion-text"] = () => All!["mnist-text"]() with
        {
            Preset = "fashion-text",
            Dataset = "fashion-mnist",
            Training = All!["mnist-text"]().Training with { MaxMinutes = 20 },
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

/// <summary>How a text-conditioned run captions and encodes: saved in run.json. Captions come from the labels
/// (<see cref="Text.Captions.LabelCaptions"/> of the run's dataset, training phrasings only; the held-out ones are for
/// evaluation).</summary>
public sealed record TextOptions
{
    /// <summary>The pretrained all-MiniLM-L6-v2 (package <c>Diffusion.Text.MiniLM</c>), frozen.</summary>
    public const string MiniLm = "minilm";

    /// <summary>The small <see cref="TextTransformer"/> trained with the UNet on a word vocabulary of the training captions.</summary>
    public const string Learned = "learned";

    /// <summary>MiniLM's token width, the default preset's cross-attention dimension.</summary>
    public const int MiniLmWidth = 384;

    /// <summary>The encoder names.</summary>
    public static IReadOnlyList<string> Encoders { get; } = [MiniLm, Learned];

    /// <summary>The text encoder: <see cref="MiniLm"/> (default) or <see cref="Learned"/>.</summary>
    public string Encoder { get; init; } = MiniLm;

    /// <summary>The label captions (<see cref="Text.Captions.LabelCaptions.For"/>: "mnist", "fashion-mnist"); null (default)
    /// takes the run's dataset's. Set it to caption a <c>folder:</c> dataset whose classes are MNIST's or Fashion-MNIST's.</summary>
    public string? Captions { get; init; }

    /// <summary>Tokens per caption, start and end tokens included; longer prompts are truncated (with one warning). Default 32.</summary>
    public int MaxLength { get; init; } = 32;

    /// <summary>The learned encoder's architecture (its vocabulary size is the word tokenizer's); null for a pretrained encoder.</summary>
    public TextTransformerOptions? LearnedEncoder { get; init; }

    /// <summary>The width of the encoder's token states: the UNet's <see cref="UNetOptions.CrossAttentionDim"/>.</summary>
    /// <exception cref="DiffusionException">The encoder is neither learned, MiniLM nor a registered pretrained one.</exception>
    public int ContextWidth() => Encoder switch
    {
        Learned => (LearnedEncoder ?? new TextTransformerOptions()).HiddenSize,
        MiniLm => MiniLmWidth,
        var other => PretrainedTextEncoders.Get(other).HiddenSize,
    };
}
