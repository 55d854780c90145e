using System.Text.Json.Serialization;

namespace Diffusion.Core.Training;

/// <summary>Numeric precision of the forward and backward passes.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<Precision>))]
public enum Precision
{
    /// <summary>Everything in float32.</summary>
    Float32,
    /// <summary>Forward and backward in bfloat16 with float32 master weights, optimizer state and EMA
    /// (mixed precision). Several times faster on CPUs with AVX-512 BF16 and on recent GPUs; on CPUs without
    /// bf16 instructions (e.g. AVX2 only) libtorch falls back to reference kernels that are 10-100× slower.</summary>
    BFloat16,
    /// <summary><see cref="BFloat16"/> where the hardware computes it fast (see <see cref="PrecisionSupport"/>), else
    /// <see cref="Float32"/>. Resolved once when a run starts; the run's saved options record the choice.</summary>
    Auto,
    /// <summary>Float32 parameters, gradients and optimizer; ATen's autocast (<see cref="Training.Autocast"/>) runs the
    /// convolutions, matrix products and attention in bfloat16 and keeps losses and its float32 list in float32, as
    /// PyTorch's <c>torch.autocast(dtype=torch.bfloat16)</c> does. Fast on the same hardware as <see cref="BFloat16"/>.</summary>
    Autocast,
}

/// <summary>Learning-rate shape after warm-up.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<LrSchedule>))]
public enum LrSchedule
{
    /// <summary>Constant after warm-up.</summary>
    Constant,
    /// <summary>Cosine decay to 10 % of the peak over <see cref="TrainingOptions.MaxSteps"/> (needs MaxSteps).</summary>
    Cosine,
}

/// <summary>Which checkpoint a resumed run starts from.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<ResumePoint>))]
public enum ResumePoint
{
    /// <summary>The latest checkpoint (<c>checkpoints/latest</c>).</summary>
    Latest,
    /// <summary>The checkpoint before it (<c>checkpoints/previous</c>), e.g. when the latest one is corrupted.</summary>
    Previous,
}

/// <summary>Options of a training run; saved as JSON in the run folder and reloaded on resume.</summary>
public sealed record TrainingOptions
{
    /// <summary>Images per micro-batch (per optimizer step without accumulation). In data-parallel training this is the
    /// global batch, split evenly over the processes (<see cref="IProcessGroup"/>). Default 128.</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Stop after this many optimizer steps (counted across resumes). Null: no step limit. Default null.</summary>
    public int? MaxSteps { get; init; }

    /// <summary>Stop after this much training wall-clock time in this process (minutes). Null: no time limit. Default null.</summary>
    public double? MaxMinutes { get; init; }

    /// <summary>Peak AdamW learning rate. Default 2e-3.</summary>
    public double LearningRate { get; init; } = 2e-3;

    /// <summary>Linear warm-up length in steps. Default 200.</summary>
    public int WarmupSteps { get; init; } = 200;

    /// <summary>Shape of the learning rate after warm-up. Default <see cref="LrSchedule.Constant"/>.</summary>
    public LrSchedule LrSchedule { get; init; } = LrSchedule.Constant;

    /// <summary>AdamW beta1. Default 0.9.</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>AdamW beta2. Default 0.99.</summary>
    public double Beta2 { get; init; } = 0.99;

    /// <summary>AdamW epsilon. Default 1e-8.</summary>
    public double AdamEpsilon { get; init; } = 1e-8;

    /// <summary>Decoupled weight decay (Loshchilov &amp; Hutter 2019). Default 0.</summary>
    public double WeightDecay { get; init; }

    /// <summary>Clip the global gradient L2 norm to this value; null disables. Default 1.</summary>
    public double? GradientClip { get; init; } = 1.0;

    /// <summary>Decay of the exponential moving average of the weights. Default 0.999.</summary>
    public double EmaDecay { get; init; } = 0.999;

    /// <summary>Probability of replacing a label by the null class (classifier-free guidance training). Default 0.1.</summary>
    public double LabelDropout { get; init; } = 0.1;

    /// <summary>Min-SNR-γ loss weighting (Hang et al. 2023); null gives the plain (unweighted) loss. Default null.</summary>
    public double? MinSnrGamma { get; init; }

    /// <summary>Forward/backward precision. Default <see cref="Precision.Auto"/>.</summary>
    public Precision Precision { get; init; } = Precision.Auto;

    /// <summary>Random horizontal flips of training images. Default false (digits must not flip). The same as
    /// <see cref="Data.AugmentationOptions.HorizontalFlip"/> in <see cref="Augmentation"/> (kept so that runs saved before
    /// augmentation had its own options resume unchanged); either one switches flips on.</summary>
    public bool HorizontalFlip { get; init; }

    /// <summary>Random augmentation of each training batch (flip, random resized crop, colour jitter), drawn from the
    /// trainer's generator before the batch is encoded or noised. Default none.</summary>
    public Data.AugmentationOptions Augmentation { get; init; } = Data.AugmentationOptions.None;

    /// <summary>The augmentation a run applies: <see cref="Augmentation"/>, with flips also when <see cref="HorizontalFlip"/> is set.</summary>
    [JsonIgnore]
    public Data.AugmentationOptions ResolvedAugmentation
        => HorizontalFlip && !Augmentation.HorizontalFlip ? Augmentation with { HorizontalFlip = true } : Augmentation;

    /// <summary>Seed of every random draw (data order, timesteps, noise, label dropout). Default 0.</summary>
    public long Seed { get; init; }

    /// <summary>Micro-batches of <see cref="BatchSize"/> whose gradients are summed (each loss divided by this) before one
    /// optimizer step, so a step sees GradientAccumulation·BatchSize examples at the memory cost of one micro-batch
    /// (nanoGPT's <c>gradient_accumulation_steps</c>). Steps count optimizer steps. Default 1.</summary>
    public int GradientAccumulation { get; init; } = 1;

    /// <summary>Recompute each block's activations in backward instead of keeping them (<see cref="GradientCheckpoint"/>):
    /// less peak memory for about one extra forward pass per step; the same gradients. The network must implement
    /// <see cref="ISupportsGradientCheckpointing"/> (the SDK's UNet does). Default false.</summary>
    public bool GradientCheckpointing { get; init; }

    /// <summary>How many checkpoints a run keeps: <c>checkpoints/latest</c> plus <c>previous</c>, <c>previous-2</c>, … (older
    /// ones are deleted), ≥ 1. Default 2.</summary>
    public int KeepCheckpoints { get; init; } = 2;

    /// <summary>Which checkpoint a resumed run starts from: the latest, or the one before it (when the latest is corrupted).
    /// Default <see cref="ResumePoint.Latest"/>.</summary>
    public ResumePoint ResumeFrom { get; init; } = ResumePoint.Latest;

    /// <summary>Steps in a row whose loss or gradient may be non-finite (NaN or Inf) before the run stops: such a step is
    /// skipped with a warning (no optimizer or EMA update); one more stops the run with a clear error, keeping the last
    /// good checkpoint. Default 10.</summary>
    public int MaxSkippedSteps { get; init; } = 10;

    /// <summary>Steps between progress reports and metric lines. Default 50.</summary>
    public int LogEvery { get; init; } = 50;

    /// <summary>Steps between checkpoints; a checkpoint is also written at the end and on cancellation. Default 1000.</summary>
    public int CheckpointEvery { get; init; } = 1000;

    /// <summary>Steps between preview sample grids; null disables. Default 1000.</summary>
    public int? SampleEvery { get; init; } = 1000;

    /// <summary>Throws <see cref="DiffusionException"/> when a value is out of range.</summary>
    public void Validate()
    {
        if (BatchSize < 1) throw new DiffusionException($"BatchSize must be at least 1, got {BatchSize}.");
        if (MaxSkippedSteps < 0) throw new DiffusionException($"MaxSkippedSteps must be ≥ 0, got {MaxSkippedSteps}.");
        if (KeepCheckpoints < 1) throw new DiffusionException($"KeepCheckpoints must be at least 1, got {KeepCheckpoints}.");
        if (GradientAccumulation < 1) throw new DiffusionException($"GradientAccumulation must be at least 1 (micro-batches per optimizer step), got {GradientAccumulation}.");
        if (MaxSteps is < 1) throw new DiffusionException($"MaxSteps must be at least 1, got {MaxSteps}.");
        if (MaxMinutes is <= 0) throw new DiffusionException($"MaxMinutes must be positive, got {MaxMinutes}.");
        if (MaxSteps is null && MaxMinutes is null) throw new DiffusionException("Set MaxSteps or MaxMinutes (--steps or --minutes): a run needs a budget.");
        if (!(LearningRate > 0)) throw new DiffusionException($"LearningRate must be positive, got {LearningRate}.");
        if (WarmupSteps < 0) throw new DiffusionException($"WarmupSteps must be ≥ 0, got {WarmupSteps}.");
        if (LrSchedule == LrSchedule.Cosine && MaxSteps is null) throw new DiffusionException("A cosine learning-rate schedule needs MaxSteps.");
        if (EmaDecay is < 0 or >= 1) throw new DiffusionException($"EmaDecay must be in [0, 1), got {EmaDecay}.");
        if (LabelDropout is < 0 or > 1) throw new DiffusionException($"LabelDropout must be in [0, 1], got {LabelDropout}.");
        if (MinSnrGamma is <= 0) throw new DiffusionException($"MinSnrGamma must be positive, got {MinSnrGamma}.");
        if (GradientClip is <= 0) throw new DiffusionException($"GradientClip must be positive, got {GradientClip}.");
        if (Augmentation is null) throw new DiffusionException("Augmentation must not be null; use AugmentationOptions.None.");
        Augmentation.Validate();
        if (LogEvery < 1 || CheckpointEvery < 1 || SampleEvery is < 1)
            throw new DiffusionException("LogEvery, CheckpointEvery and SampleEvery must be at least 1.");
    }

    /// <summary>The learning rate at optimizer step <paramref name="step"/> (0-based).</summary>
    public double LearningRateAt(int step)
    {
        double warm = WarmupSteps == 0 ? 1 : Math.Min(1.0, (step + 1.0) / WarmupSteps);
        if (LrSchedule == LrSchedule.Constant || MaxSteps is not int max) return LearningRate * warm;
        double progress = Math.Clamp((step - WarmupSteps) / (double)Math.Max(1, max - WarmupSteps), 0, 1);
        return LearningRate * warm * (0.1 + 0.9 * 0.5 * (1 + Math.Cos(Math.PI * progress)));
    }
}
