using Diffusion.Core;

namespace Diffusion.Evaluation;

/// <summary>How <see cref="ClassifierTrainer"/> trains a <see cref="Classifier"/>. Saved with the cached weights;
/// every property is validated when set.</summary>
public sealed record ClassifierTrainingOptions
{
    /// <summary>The architecture; null infers channels and size from the images and K from the largest label
    /// (other fields at their defaults). Default null.</summary>
    public ClassifierOptions? Model { get; init; }

    /// <summary>Passes over the training set. Default 4.</summary>
    /// <exception cref="DiffusionException">The value is below 1.</exception>
    public int Epochs
    {
        get;
        init => field = value >= 1 ? value : throw new DiffusionException($"Epochs must be at least 1 (got {value}).");
    } = 4;

    /// <summary>Images per optimisation step. Default 128.</summary>
    /// <exception cref="DiffusionException">The value is below 2 (batch norm needs two images).</exception>
    public int BatchSize
    {
        get;
        init => field = value >= 2 ? value : throw new DiffusionException($"Classifier batch size must be at least 2 (got {value}).");
    } = 128;

    /// <summary>Peak AdamW learning rate, reached after a linear warm-up and followed by a cosine decay to 0. Default 3e-3.</summary>
    /// <exception cref="DiffusionException">The value is not positive.</exception>
    public double LearningRate
    {
        get;
        init => field = value > 0 ? value : throw new DiffusionException($"Learning rate must be positive (got {value}).");
    } = 3e-3;

    /// <summary>Fraction of all steps spent warming the learning rate up from 0, in [0, 1). Default 0.03.</summary>
    /// <exception cref="DiffusionException">The value is outside [0, 1).</exception>
    public double WarmupFraction
    {
        get;
        init => field = value is >= 0 and < 1 ? value : throw new DiffusionException($"Warm-up fraction must be in [0, 1) (got {value}).");
    } = 0.03;

    /// <summary>AdamW's decoupled weight decay (Loshchilov &amp; Hutter 2019). Default 0.05.</summary>
    /// <exception cref="DiffusionException">The value is negative.</exception>
    public double WeightDecay
    {
        get;
        init => field = value >= 0 ? value : throw new DiffusionException($"Weight decay must not be negative (got {value}).");
    } = 0.05;

    /// <summary>Augmentation: each training image is shifted by a random whole number of pixels in
    /// −MaxShift … MaxShift along each axis (padding with the background value −1). 0 disables it. Default 2.</summary>
    /// <exception cref="DiffusionException">The value is negative.</exception>
    public int MaxShift
    {
        get;
        init => field = value >= 0 ? value : throw new DiffusionException($"Maximum shift must not be negative (got {value}).");
    } = 2;

    /// <summary>Seed of the weights, the shuffling and the augmentation. Default 0.</summary>
    public long Seed { get; init; }

    /// <summary>Run forward and backward passes in bfloat16 (3–4× faster on CPUs with bf16 support) while
    /// the optimiser keeps float32 master weights; the returned classifier is float32 either way. Before training, a
    /// probe batch is run through both precisions, and training silently stays in float32 if the CPU's bf16 kernels
    /// disagree (some libtorch builds compute bf16 convolutions wrongly for some channel counts). Default: true where the CPU
    /// has bf16 instructions (<see cref="Diffusion.Core.Training.PrecisionSupport"/>), else false.</summary>
    public bool BFloat16 { get; init; } = Diffusion.Core.Training.PrecisionSupport.CpuHasFastBFloat16;

    /// <summary>Steps between two progress reports (each one reads the loss back from the device). Default 100.</summary>
    /// <exception cref="DiffusionException">The value is below 1.</exception>
    public int ReportEvery
    {
        get;
        init => field = value >= 1 ? value : throw new DiffusionException($"Report interval must be at least 1 step (got {value}).");
    } = 100;
}

/// <summary>Progress of <see cref="ClassifierTrainer.Train"/>; carries no tensors.</summary>
/// <param name="Epoch">Current epoch, 1 … <paramref name="Epochs"/>.</param>
/// <param name="Epochs">Epochs in the run.</param>
/// <param name="Step">Optimisation steps done.</param>
/// <param name="TotalSteps">Steps in the run.</param>
/// <param name="Loss">Mean cross-entropy over the steps since the previous report.</param>
/// <param name="Elapsed">Wall-clock time since training started.</param>
public readonly record struct ClassifierTrainingProgress(int Epoch, int Epochs, long Step, long TotalSteps, double Loss, TimeSpan Elapsed);
