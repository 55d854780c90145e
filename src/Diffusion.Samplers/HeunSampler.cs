using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Samplers;

/// <summary>
/// Heun's second-order method on the probability-flow ODE, deterministic (Karras et al. 2022, Algorithm 2
/// with S_churn = 0): an Euler step, then the trapezoidal correction with the slope at its end point,
/// except for the last step to sigma = 0, which stays Euler. Two network evaluations per step (one for
/// the last).
/// </summary>
public sealed class HeunSampler : ISampler
{
    /// <summary>Creates the sampler.</summary>
    /// <param name="options">Where the noise levels go; default Karras sigmas.</param>
    public HeunSampler(SigmaScheduleOptions? options = null) => Options = options ?? new SigmaScheduleOptions();

    /// <summary>The noise levels this sampler steps through.</summary>
    public SigmaScheduleOptions Options { get; }

    /// <inheritdoc />
    public string Name => "heun";

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
            var d = (x - denoised) / sigma;                      // Algorithm 2, line 5
            Tensor xNext;
            if (next == 0)
            {
                xNext = denoised.alias();                        // the Euler step to sigma = 0 lands on D exactly
            }
            else
            {
                var euler = x + d * (next - sigma);              // line 6
                var dNext = (euler - denoiser.Denoise(euler, next, request.Condition)) / next; // line 8
                xNext = x + (d + dNext) * (0.5 * (next - sigma)); // line 9
            }
            xNext = SamplingRun.Step(request, progress, i + 1, total, xNext, NoiseLevel.Ve(next), denoised);
            x = SamplingRun.Carry(x, xNext);
        }
        return x.MoveToOuterDisposeScope();
    }
}
