using System.Text.Json.Serialization;
using Diffusion.Core;
using Diffusion.Core.Schedules;

namespace Diffusion.Samplers;

/// <summary>Where a continuous-time solver places its noise levels.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SigmaSpacing>))]
public enum SigmaSpacing
{
    /// <summary>sigma_i = (sigma_max^(1/rho) + i/(N−1)·(sigma_min^(1/rho) − sigma_max^(1/rho)))^rho, then 0
    /// (Karras et al. 2022, Eq. 5): continuous, concentrates steps at low noise.</summary>
    Karras,
    /// <summary>The sigmas of the schedule's own training timesteps chosen by
    /// <see cref="SigmaScheduleOptions.Timesteps"/>, then 0 (diffusers' default placement).</summary>
    Timesteps,
}

/// <summary>
/// The noise levels a continuous-time solver (Euler, Heun, DPM-Solver++, UniPC) steps through, in the
/// variance-exploding view sigma = sqrt((1 − alphaBar)/alphaBar). Always N + 1 strictly decreasing
/// values ending at 0, so no level is visited twice.
/// </summary>
public sealed record SigmaScheduleOptions
{
    /// <summary>How the levels are placed. Default <see cref="SigmaSpacing.Karras"/>.</summary>
    public SigmaSpacing Spacing { get; init; } = SigmaSpacing.Karras;

    /// <summary>rho of the Karras spacing (Karras et al. 2022, Eq. 5); larger puts more steps at low noise.
    /// Used only with <see cref="SigmaSpacing.Karras"/>. Default 7.</summary>
    /// <exception cref="DiffusionException">Set to a value that is not positive and finite.</exception>
    public double Rho
    {
        get;
        init => field = value > 0 && double.IsFinite(value)
            ? value
            : throw new DiffusionException($"Karras rho must be positive and finite, got {value}.");
    } = 7.0;

    /// <summary>Which training timesteps to take sigmas from. Used only with <see cref="SigmaSpacing.Timesteps"/>.
    /// Default <see cref="TimestepSpacing.Trailing"/>.</summary>
    public TimestepSpacing Timesteps { get; init; } = TimestepSpacing.Trailing;

    /// <summary>
    /// The full schedule for <paramref name="steps"/> steps on <paramref name="scheduler"/>: N + 1 strictly
    /// decreasing finite values, the last one 0. An infinite sigma (a zero-terminal-SNR schedule's last
    /// timestep) is replaced by the largest finite one, dropping any level that would then repeat.
    /// </summary>
    /// <exception cref="DiffusionException"><paramref name="steps"/> is below 1, or above T with timestep spacing.</exception>
    public double[] Build(INoiseScheduler scheduler, int steps)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        if (Spacing == SigmaSpacing.Karras) return scheduler.KarrasSigmas(steps, Rho);
        double max = scheduler.SigmaRange().Max;
        var sigmas = new List<double>(steps + 1);
        foreach (int t in scheduler.Timesteps(steps, Timesteps))
        {
            double sigma = Math.Min(scheduler.Sigma(t), max);
            if (sigmas.Count == 0 || sigma < sigmas[^1]) sigmas.Add(sigma);
        }
        sigmas.Add(0);
        return sigmas.ToArray();
    }
}
