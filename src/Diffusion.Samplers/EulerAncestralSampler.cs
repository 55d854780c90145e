using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Samplers;

/// <summary>Options of <see cref="EulerAncestralSampler"/>.</summary>
public sealed record EulerAncestralOptions
{
    /// <summary>Fraction of the ancestral noise to re-inject, in [0, 1]: 1 is the DDPM-like ancestral step,
    /// 0 the deterministic Euler step. Default 1.</summary>
    /// <exception cref="DiffusionException">Set outside [0, 1].</exception>
    public double Eta
    {
        get;
        init => field = value is >= 0 and <= 1 ? value : throw new DiffusionException($"Euler ancestral eta must be in [0, 1], got {value}.");
    } = 1.0;

    /// <summary>Where the noise levels go. Default Karras sigmas.</summary>
    public SigmaScheduleOptions Sigmas { get; init; } = new();
}

/// <summary>
/// Euler ancestral sampling (k-diffusion's <c>sample_euler_ancestral</c>): each step from sigma to sigma'
/// is split into a deterministic Euler step down to sigma_down and fresh noise of scale sigma_up, with
/// sigma_up = eta·sqrt(sigma'²(sigma² − sigma'²)/sigma²) and sigma_down² + sigma_up² = sigma'², the
/// variance-exploding form of the DDPM posterior step (Ho et al. 2020, Eq. 7). Stochastic.
/// </summary>
public sealed class EulerAncestralSampler : ISampler
{
    /// <summary>Creates the sampler.</summary>
    /// <param name="options">Eta and noise levels; defaults when null.</param>
    public EulerAncestralSampler(EulerAncestralOptions? options = null) => Options = options ?? new EulerAncestralOptions();

    /// <summary>The sampler's options.</summary>
    public EulerAncestralOptions Options { get; }

    /// <inheritdoc />
    public string Name => "euler_a";

    /// <inheritdoc />
    public Tensor Sample(DenoiserView denoiser, SamplingRequest request, IProgress<SamplingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        SamplingRun.Validate(denoiser, request);
        var generator = SamplingRun.GeneratorOf(request);
        using var noGrad = no_grad();
        using var outer = NewDisposeScope();
        var (sigmas, x) = SamplingRun.StartContinuous(denoiser, request, Options.Sigmas, generator);
        int total = sigmas.Length - 1;
        for (int i = 0; i < total; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            double sigma = sigmas[i], next = sigmas[i + 1];
            double up = Math.Min(next, Options.Eta * Math.Sqrt(next * next * (sigma * sigma - next * next) / (sigma * sigma)));
            double down = Math.Sqrt(next * next - up * up);
            var denoised = denoiser.Denoise(x, sigma, request.Condition);
            var xNext = denoised + (x - denoised) * (down / sigma);
            if (up > 0) xNext = xNext + SamplingRun.Noise(request, generator) * up;
            xNext = SamplingRun.Step(request, progress, i + 1, total, xNext, NoiseLevel.Ve(next), denoised);
            x = SamplingRun.Carry(x, xNext);
        }
        return x.MoveToOuterDisposeScope();
    }
}
