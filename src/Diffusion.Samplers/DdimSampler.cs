using Diffusion.Core;
using Diffusion.Core.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Samplers;

/// <summary>Options of <see cref="DdimSampler"/>.</summary>
public sealed record DdimOptions
{
    /// <summary>Stochasticity eta ≥ 0 (Song et al. 2021, Eq. 16): 0 is the deterministic DDIM, 1 matches
    /// DDPM's posterior variance. Default 0.</summary>
    /// <exception cref="DiffusionException">Set to a negative or non-finite value.</exception>
    public double Eta
    {
        get;
        init => field = value >= 0 && double.IsFinite(value) ? value : throw new DiffusionException($"DDIM eta must be a finite value ≥ 0, got {value}.");
    }

    /// <summary>Which training timesteps to visit. Default <see cref="TimestepSpacing.Trailing"/>, which always
    /// starts at t = T − 1 (Lin et al. 2023, Sec. 3.3).</summary>
    public TimestepSpacing Spacing { get; init; } = TimestepSpacing.Trailing;
}

/// <summary>
/// DDIM (Song et al. 2021, Eq. 12): x_{t'} = sqrt(alphaBar')·x0 + sqrt(1 − alphaBar' − s²)·eps + s·z with
/// s = eta·sqrt((1 − alphaBar')/(1 − alphaBar))·sqrt(1 − alphaBar/alphaBar'). The last step goes to
/// alphaBar' = 1 and returns x0. Starts from x_T ~ N(0, I); deterministic for eta = 0 (first order on the
/// probability-flow ODE); one network evaluation per step.
/// </summary>
public sealed class DdimSampler : ISampler
{
    /// <summary>Creates the sampler.</summary>
    /// <param name="options">Eta and timestep spacing; defaults when null.</param>
    public DdimSampler(DdimOptions? options = null) => Options = options ?? new DdimOptions();

    /// <summary>The sampler's options.</summary>
    public DdimOptions Options { get; }

    /// <inheritdoc />
    public string Name => "ddim";

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
            double alphaBar = alphaBars[t], alphaBarPrev = i == total - 1 ? 1.0 : alphaBars[timesteps[i + 1]];
            double s = Options.Eta * Math.Sqrt((1 - alphaBarPrev) / (1 - alphaBar) * (1 - alphaBar / alphaBarPrev));
            var (x0, eps) = denoiser.AtTimestep(x, t, request.Condition);
            var xNext = x0 * Math.Sqrt(alphaBarPrev) + eps * Math.Sqrt(Math.Max(1 - alphaBarPrev - s * s, 0));
            if (s > 0) xNext = xNext + SamplingRun.Noise(request, generator) * s;
            xNext = SamplingRun.Step(request, progress, i + 1, total, xNext, NoiseLevel.Vp(alphaBarPrev), x0);
            x = SamplingRun.Carry(x, xNext);
        }
        return x.MoveToOuterDisposeScope();
    }
}
