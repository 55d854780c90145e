using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Samplers;

/// <summary>
/// Euler's method on the probability-flow ODE dx/dsigma = (x − D(x; sigma))/sigma in the VE view
/// (Karras et al. 2022, Algorithm 2 without the Heun correction). First order, deterministic, one network
/// evaluation per step; the same update as DDIM with eta = 0 when given the same levels.
/// </summary>
public sealed class EulerSampler : ISampler
{
    /// <summary>Creates the sampler.</summary>
    /// <param name="options">Where the noise levels go; default Karras sigmas.</param>
    public EulerSampler(SigmaScheduleOptions? options = null) => Options = options ?? new SigmaScheduleOptions();

    /// <summary>The noise levels this sampler steps through.</summary>
    public SigmaScheduleOptions Options { get; }

    /// <inheritdoc />
    public string Name => "euler";

    /// <inheritdoc />
    public Tensor Sample(DenoiserView denoiser, SamplingRequest request, IProgress<SamplingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        SamplingRun.Validate(denoiser, request);
        using var noGrad = no_grad();
        using var outer = NewDisposeScope();
        var (sigmas, x) = SamplingRun.StartContinuous(denoiser, request, Options, SamplingRun.GeneratorOf(request));
        int total = sigmas.Length - 1;
        for (int i = 0; i < total; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            double sigma = sigmas[i], next = sigmas[i + 1];
            var denoised = denoiser.Denoise(x, sigma, request.Condition);
            // x + (next − sigma)·(x − D)/sigma, written so that next = 0 gives D exactly.
            var xNext = denoised + (x - denoised) * (next / sigma);
            xNext = SamplingRun.Step(request, progress, i + 1, total, xNext, NoiseLevel.Ve(next), denoised);
            x = SamplingRun.Carry(x, xNext);
        }
        return x.MoveToOuterDisposeScope();
    }
}
