using static TorchSharp.torch;

namespace Diffusion.Core;

/// <summary>
/// Draws samples by integrating the reverse diffusion from noise (or from a partly noised image) with a
/// denoiser. One method, one shared signature (k-diffusion's habit); all sampler-specific knobs live in
/// the sampler's constructor options, all request-specific ones in <see cref="SamplingRequest"/>.
/// </summary>
public interface ISampler
{
    /// <summary>The registry name, e.g. "ddim".</summary>
    string Name { get; }

    /// <summary>Runs the sampler under <c>no_grad</c>, one dispose scope per step.</summary>
    /// <param name="denoiser">The model, wrapped with its schedule; wrap it with guidance first for CFG.</param>
    /// <param name="request">Shape, steps, condition, noise generator, optional starting image.</param>
    /// <param name="progress">Receives one report per step; carries no tensors (it may run on another thread).</param>
    /// <param name="cancellationToken">Checked between steps; cancelling throws <see cref="OperationCanceledException"/>.</param>
    /// <returns>The samples x0, shape <see cref="SamplingRequest.Shape"/>, in the data range (usually [−1, 1]).</returns>
    /// <exception cref="DiffusionException">The request is invalid for this sampler or schedule.</exception>
    Tensor Sample(DenoiserView denoiser, SamplingRequest request, IProgress<SamplingProgress>? progress = null, CancellationToken cancellationToken = default);
}

/// <summary>How far a sampling run has got.</summary>
/// <param name="Step">Steps done, 1 … <paramref name="Total"/>.</param>
/// <param name="Total">Steps in the run.</param>
public readonly record struct SamplingProgress(int Step, int Total);

/// <summary>One intermediate state, handed synchronously to <see cref="SamplingRequest.OnStep"/>; its tensors
/// live only for the duration of the call (copy what you keep).</summary>
/// <param name="Step">Steps done so far.</param>
/// <param name="Total">Steps in the run.</param>
/// <param name="Sample">The current noisy sample x_t in VP scaling.</param>
/// <param name="Denoised">The current prediction of x0.</param>
public sealed record SamplingStep(int Step, int Total, Tensor Sample, Tensor Denoised);

/// <summary>The noise level of a sample in a sampler's own scaling: sample = Alpha·x0 + Sigma·eps. The discrete samplers
/// (DDPM, DDIM) work in the variance-preserving scaling (Alpha² + Sigma² = 1), the continuous solvers in the
/// variance-exploding one (Alpha = 1, Sigma = Karras' sigma).</summary>
/// <param name="Alpha">The signal scale.</param>
/// <param name="Sigma">The noise scale.</param>
public readonly record struct NoiseLevel(double Alpha, double Sigma)
{
    /// <summary>The VP level of a sample at cumulative signal fraction <paramref name="alphaBar"/>.</summary>
    public static NoiseLevel Vp(double alphaBar) => new(Math.Sqrt(alphaBar), Math.Sqrt(Math.Max(1 - alphaBar, 0)));

    /// <summary>The VE level of a sample at noise level <paramref name="sigma"/>.</summary>
    public static NoiseLevel Ve(double sigma) => new(1, sigma);

    /// <summary>The sample in VP scaling, x / sqrt(Alpha² + Sigma²).</summary>
    public Tensor ToVp(Tensor x)
    {
        double norm = Alpha * Alpha + Sigma * Sigma;
        return Math.Abs(norm - 1) < 1e-12 ? x : x * (1 / Math.Sqrt(norm));
    }
}

/// <summary>One finished step, handed to <see cref="SamplingRequest.StepHook"/>; its tensors live only for the call.</summary>
/// <param name="Step">Steps done so far.</param>
/// <param name="Total">Steps in the run.</param>
/// <param name="Sample">The sample the next step starts from, in the sampler's scaling.</param>
/// <param name="Level">Its noise level in that scaling: a known image x0 noised to match is Level.Alpha·x0 + Level.Sigma·noise.</param>
/// <param name="Denoised">The current prediction of x0.</param>
public sealed record SamplingHookStep(int Step, int Total, Tensor Sample, NoiseLevel Level, Tensor Denoised);

/// <summary>What to sample. Immutable; validated by the sampler.</summary>
public sealed record SamplingRequest
{
    /// <summary>Output shape (B, C, H, W).</summary>
    public required long[] Shape { get; init; }

    /// <summary>Number of sampling steps (a step may cost more than one network evaluation, e.g. Heun). Default 50.</summary>
    public int Steps { get; init; } = 50;

    /// <summary>What to condition on, one row per sample. Default none.</summary>
    public Condition Condition { get; init; } = Condition.None;

    /// <summary>Source of every random draw; the same seed gives the same images on the same machine.
    /// Null uses a generator seeded with 0.</summary>
    public Generator? Generator { get; init; }

    /// <summary>Device to sample on. Default CPU.</summary>
    public Device? Device { get; init; }

    /// <summary>Optional starting image x0 (image-to-image); with <see cref="Strength"/> &lt; 1 sampling starts
    /// from it noised to that fraction of the schedule.</summary>
    public Tensor? InitImage { get; init; }

    /// <summary>Optional standard normal noise to start from instead of drawing it from <see cref="Generator"/>, shape
    /// <see cref="Shape"/> (diffusers' <c>latents</c> argument): the sampler starts at sigma_max·noise, or at the init image
    /// noised with it. Later random draws (ancestral samplers) still come from <see cref="Generator"/>. Default null.</summary>
    public Tensor? InitialNoise { get; init; }

    /// <summary>Fraction of the schedule to run when <see cref="InitImage"/> is set, in (0, 1]. Default 1 (pure noise).</summary>
    public double Strength { get; init; } = 1.0;

    /// <summary>Called after each step with the sample the next step starts from; a non-null return replaces it (the
    /// same shape), e.g. inpainting's "keep the known pixels" (Lugmayr et al. 2022). Shared by every sampler. Default none.</summary>
    public Func<SamplingHookStep, Tensor?>? StepHook { get; init; }

    /// <summary>Called synchronously after each step (e.g. to record a GIF of the trajectory). Default none.</summary>
    public Action<SamplingStep>? OnStep { get; init; }
}
