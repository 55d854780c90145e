using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Samplers;

/// <summary>
/// DPM-Solver++(3M), the third-order multistep solver in data prediction (Lu et al. 2022b, Appendix B; the
/// multistep third-order update of Lu et al. 2022a, Algorithm 4, applied to x0), in the VE view with
/// lambda = −log sigma. With D1 and D2 the first and second divided differences of the last three data
/// predictions: x' = (sigma'/sigma)·x − φ1·D0 + (φ1/h + 1)·D1 − ((φ1 + h)/h² − ½)·D2, φ1 = e^−h − 1.
/// Warms up with first and second order, takes at most second order on the step before last and returns
/// the data prediction on the last step (to sigma = 0). One network evaluation per step; deterministic.
/// </summary>
public sealed class DpmSolverPlusPlus3MSampler : ISampler
{
    /// <summary>Creates the sampler.</summary>
    /// <param name="options">Where the noise levels go; default Karras sigmas.</param>
    public DpmSolverPlusPlus3MSampler(SigmaScheduleOptions? options = null) => Options = options ?? new SigmaScheduleOptions();

    /// <summary>The noise levels this sampler steps through.</summary>
    public SigmaScheduleOptions Options { get; }

    /// <inheritdoc />
    public string Name => "dpmpp_3m";

    /// <inheritdoc />
    public Tensor Sample(DenoiserView denoiser, SamplingRequest request, IProgress<SamplingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        SamplingRun.Validate(denoiser, request);
        using var noGrad = no_grad();
        using var outer = NewDisposeScope();
        var (sigmas, x) = SamplingRun.StartContinuous(denoiser, request, Options, SamplingRun.GeneratorOf(request));
        int total = sigmas.Length - 1;
        Tensor? d1 = null, d2 = null;   // D at sigmas[i − 1] and sigmas[i − 2]
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
                double phi1 = SolverMath.ExpM1(-h);
                int order = Math.Min(i + 1, i == total - 2 ? 2 : 3);
                xNext = x * (next / sigma) - denoised * phi1;
                if (order == 2)
                {
                    double r0 = Math.Log(sigmas[i - 1] / sigma) / h;
                    xNext = xNext - (denoised - d1!) * (0.5 * phi1 / r0);
                }
                else if (order == 3)
                {
                    double r0 = Math.Log(sigmas[i - 1] / sigma) / h;
                    double r1 = Math.Log(sigmas[i - 2] / sigmas[i - 1]) / h;
                    var diff0 = (denoised - d1!) / r0;               // D1_0
                    var diff1 = (d1! - d2!) / r1;                     // D1_1
                    var first = diff0 + (diff0 - diff1) * (r0 / (r0 + r1));
                    var second = (diff0 - diff1) / (r0 + r1);
                    xNext = xNext + first * (phi1 / h + 1) - second * ((phi1 + h) / (h * h) - 0.5);
                }
            }
            xNext = SamplingRun.Step(request, progress, i + 1, total, xNext, NoiseLevel.Ve(next), denoised);
            x = SamplingRun.Carry(x, xNext);
            d2?.Dispose();
            d2 = d1;
            d1 = denoised.MoveToOuterDisposeScope();
        }
        return x.MoveToOuterDisposeScope();
    }
}
