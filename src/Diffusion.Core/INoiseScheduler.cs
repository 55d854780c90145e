namespace Diffusion.Core;

/// <summary>
/// A discrete variance-preserving noise schedule: for each training timestep t = 0 … T−1 the
/// cumulative signal fraction alphaBar_t (Ho et al. 2020, Eq. 4: q(x_t | x0) = N(sqrt(alphaBar_t)·x0,
/// (1 − alphaBar_t)·I)). Schedules are pure data, computed in float64; everything else (timestep
/// spacing, sigmas, the forward process on tensors) derives from <see cref="AlphaBars"/> through
/// <see cref="NoiseSchedulerExtensions"/>.
/// </summary>
public interface INoiseScheduler
{
    /// <summary>A short name for logs and configs, e.g. "linear" or "cosine".</summary>
    string Name { get; }

    /// <summary>T, the number of training timesteps.</summary>
    int TrainSteps { get; }

    /// <summary>alphaBar_t for t = 0 … T−1: strictly decreasing, in (0, 1] (0 allowed only at
    /// t = T−1 for zero-terminal-SNR schedules).</summary>
    IReadOnlyList<double> AlphaBars { get; }
}
