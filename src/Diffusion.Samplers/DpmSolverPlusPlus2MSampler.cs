using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Samplers;

/// <summary>
/// DPM-Solver++(2M), the second-order multistep solver in data prediction (Lu et al. 2022b, Algorithm 2),
/// in the VE view with lambda = −log sigma and h = lambda' − lambda:
/// x' = (sigma'/sigma)·x − (e^−h − 1)·D̂ with D̂ = (1 + 1/(2r))·D_i − (1/(2r))·D_{i−1}, r = h_{i−1}/h.
/// One network evaluation per step; the first step is first order, the last (to sigma = 0) returns the
/// data prediction. Deterministic.
/// </summary>
public sealed class DpmSolverPlusPlus2MSampler : ISampler
{
    /// <summary>Creates the sampler.</summary>
    /// <param name="options">Where the noise levels go; default Karras sigmas.</param>
    public DpmSolverPlusPlus2MSampler(SigmaScheduleOptions? options = null) => Options = options ?? new SigmaScheduleOptions();

    /// <summary>The noise levels this sampler steps through.</summary>
    public SigmaScheduleOptions Options { get; }

    /// <inheritdoc />
    public string Name => "dpmpp_2m";

    /// <inheritdoc />
    public Tensor Sample(DenoiserView denoiser, SamplingRequest request, IProgress<SamplingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        SamplingRun.Validate(denoiser, request);
        using var noGrad = no_grad();
        using var outer = NewDisposeScope();
        var (sigmas, x) = SamplingRun.StartContinuous(denoiser, request, Options, SamplingRun.GeneratorOf(request));
        int total = sigmas.Length - 1;
        Tensor? previous = null;   // D at sigmas[i − 1]
        for (int i = 0; i < total; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            double sigma = sigmas[i], next = sigmas[i + 1];
            var denoised = denoiser.Denoise(x, sigma, request.Condition);
            Tensor xNext;
            if (next == 0)
            {
                xNext = denoised.alias();
            }
            else
            {
                double h = Math.Log(sigma / next);
                var dHat = denoised;
                if (previous is not null)
                {
                    double r = Math.Log(sigmas[i - 1] / sigma) / h;
                    dHat = denoised * (1 + 1 / (2 * r)) - previous * (1 / (2 * r));
                }
                xNext = x * (next / sigma) - dHat * SolverMath.ExpM1(-h);
            }
            xNext = SamplingRun.Step(request, progress, i + 1, total, xNext, NoiseLevel.Ve(next), denoised);
            x = SamplingRun.Carry(x, xNext);
            previous = SamplingRun.Carry(previous, denoised);
        }
        return x.MoveToOuterDisposeScope();
    }
}
