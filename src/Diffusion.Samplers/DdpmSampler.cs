using System.Text.Json.Serialization;
using Diffusion.Core;
using Diffusion.Core.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Samplers;

/// <summary>The variance of each DDPM reverse step (Ho et al. 2020, Sec. 3.2).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DdpmVariance>))]
public enum DdpmVariance
{
    /// <summary>The posterior variance beta-tilde_t = (1 − alphaBar_{t−1})/(1 − alphaBar_t)·beta_t: the lower bound, exact when x0 is a point.</summary>
    Small,
    /// <summary>beta_t itself: the upper bound, exact when x0 ~ N(0, I).</summary>
    Large,
}

/// <summary>Options of <see cref="DdpmSampler"/>.</summary>
public sealed record DdpmOptions
{
    /// <summary>The variance of each reverse step. Default <see cref="DdpmVariance.Small"/>.</summary>
    public DdpmVariance Variance { get; init; } = DdpmVariance.Small;

    /// <summary>Which training timesteps to visit when sampling with fewer than T steps. Default
    /// <see cref="TimestepSpacing.Trailing"/>.</summary>
    public TimestepSpacing Spacing { get; init; } = TimestepSpacing.Trailing;
}

/// <summary>
/// Ancestral DDPM sampling (Ho et al. 2020, Algorithm 2) written with the posterior q(x_{t'} | x_t, x0)
/// (Eqs. 6–7) and the predicted x0, so it also runs on a subset of the timesteps (t' the next visited
/// timestep, beta = 1 − alphaBar_t/alphaBar_{t'}). Starts from x_T ~ N(0, I); stochastic; one network
/// evaluation per step. Best with all T steps.
/// </summary>
public sealed class DdpmSampler : ISampler
{
    /// <summary>Creates the sampler.</summary>
    /// <param name="options">Variance and timestep spacing; defaults when null.</param>
    public DdpmSampler(DdpmOptions? options = null) => Options = options ?? new DdpmOptions();

    /// <summary>The sampler's options.</summary>
    public DdpmOptions Options { get; }

    /// <inheritdoc />
    public string Name => "ddpm";

    /// <inheritdoc />
    public Tensor Sample(DenoiserView denoiser, SamplingRequest request, IProgress<SamplingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        SamplingRun.Validate(denoiser, request);
        var generator = SamplingRun.GeneratorOf(request);
        var alphaBars = denoiser.Scheduler.AlphaBars;
        using var noGrad = no_grad();
        using var outer = NewDisposeScope();
        var (timesteps, x) = SamplingRun.StartDiscrete(denoiser, request, Options.Spacing, generator);
        int total = timesteps.Length;
        for (int i = 0; i < total; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            int t = timesteps[i];
            bool last = i == total - 1;
            double alphaBar = alphaBars[t], alphaBarPrev = last ? 1.0 : alphaBars[timesteps[i + 1]];
            double beta = 1 - alphaBar / alphaBarPrev;
            var (x0, _) = denoiser.AtTimestep(x, t, request.Condition);
            // Posterior mean, Eq. 7: sqrt(alphaBar')·beta/(1 − alphaBar)·x0 + sqrt(1 − beta)·(1 − alphaBar')/(1 − alphaBar)·x_t.
            var xNext = x0 * (Math.Sqrt(alphaBarPrev) * beta / (1 - alphaBar))
                      + x * (Math.Sqrt(1 - beta) * (1 - alphaBarPrev) / (1 - alphaBar));
            if (!last)
            {
                double variance = Options.Variance == DdpmVariance.Small ? (1 - alphaBarPrev) / (1 - alphaBar) * beta : beta;
                xNext = xNext + SamplingRun.Noise(request, generator) * Math.Sqrt(variance);
            }
            xNext = SamplingRun.Step(request, progress, i + 1, total, xNext, NoiseLevel.Vp(alphaBarPrev), x0);
            x = SamplingRun.Carry(x, xNext);
        }
        return x.MoveToOuterDisposeScope();
    }
}
