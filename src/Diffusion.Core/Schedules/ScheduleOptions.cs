using System.Text.Json.Serialization;

namespace Diffusion.Core.Schedules;

/// <summary>The shape of the beta (or alphaBar) curve over training time.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<BetaSchedule>))]
public enum BetaSchedule
{
    /// <summary>Betas linear in t from <see cref="ScheduleOptions.BetaStart"/> to <see cref="ScheduleOptions.BetaEnd"/> (Ho et al. 2020).</summary>
    Linear,
    /// <summary>alphaBar(t) = cos²(((t/T + s)/(1 + s))·π/2) with s = 0.008 (Nichol &amp; Dhariwal 2021, Eq. 17).</summary>
    Cosine,
    /// <summary>Betas following a sigmoid between <see cref="ScheduleOptions.BetaStart"/> and <see cref="ScheduleOptions.BetaEnd"/> (Jabri et al. 2022).</summary>
    Sigmoid,
}

/// <summary>Options of a <see cref="NoiseSchedule"/>; saved with every run.</summary>
public sealed record ScheduleOptions
{
    /// <summary>Curve of the schedule. Default <see cref="BetaSchedule.Linear"/>.</summary>
    public BetaSchedule Kind { get; init; } = BetaSchedule.Linear;

    /// <summary>T, the number of training timesteps. Default 1000.</summary>
    public int TrainSteps { get; init; } = 1000;

    /// <summary>beta at t = 0 for linear and sigmoid schedules. Default 1e-4.</summary>
    public double BetaStart { get; init; } = 1e-4;

    /// <summary>beta at t = T−1 for linear and sigmoid schedules. Default 0.02.</summary>
    public double BetaEnd { get; init; } = 0.02;

    /// <summary>Rescales the schedule so alphaBar_{T−1} = 0 exactly (Lin et al. 2023, Algorithm 1).
    /// Use with v-prediction: eps-prediction is undefined at zero SNR. Default false.</summary>
    public bool ZeroTerminalSnr { get; init; }
}
