using Diffusion.Core.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core;

/// <summary>
/// Everything derived from a schedule's alphaBars: noise levels, timestep selection, the forward
/// process on tensors. Pure functions; float64 arithmetic until a tensor is made.
/// </summary>
public static class NoiseSchedulerExtensions
{
    /// <summary>alpha_t = sqrt(alphaBar_t): the signal scale of x_t.</summary>
    public static double Alpha(this INoiseScheduler s, int t) => Math.Sqrt(s.AlphaBars[t]);

    /// <summary>sigma_t = sqrt(1 − alphaBar_t): the noise scale of x_t in VP form.</summary>
    public static double SigmaVp(this INoiseScheduler s, int t) => Math.Sqrt(1 - s.AlphaBars[t]);

    /// <summary>The variance-exploding noise level sigma_t = sqrt((1 − alphaBar_t) / alphaBar_t) used by
    /// Karras et al. 2022 (x_t / alpha_t = x0 + sigma_t·eps). Infinite at zero terminal SNR.</summary>
    public static double Sigma(this INoiseScheduler s, int t) => Math.Sqrt((1 - s.AlphaBars[t]) / s.AlphaBars[t]);

    /// <summary>The smallest and largest finite sigma of the schedule.</summary>
    public static (double Min, double Max) SigmaRange(this INoiseScheduler s)
    {
        double max = 0;
        for (int t = s.TrainSteps - 1; t >= 0; t--)
            if (double.IsFinite(s.Sigma(t))) { max = s.Sigma(t); break; }
        return (s.Sigma(0), max);
    }

    /// <summary>
    /// The continuous timestep whose sigma is <paramref name="sigma"/>, interpolating log sigma linearly
    /// between neighbouring training timesteps (the discrete-to-continuous map of k-diffusion's
    /// DiscreteSchedule). Clamped to [0, T−1].
    /// </summary>
    public static double TimestepFromSigma(this INoiseScheduler s, double sigma)
    {
        double logSigma = Math.Log(sigma);
        if (logSigma <= Math.Log(s.Sigma(0))) return 0;
        for (int t = 1; t < s.TrainSteps; t++)
        {
            double hi = Math.Log(s.Sigma(t));
            if (logSigma <= hi)
            {
                double lo = Math.Log(s.Sigma(t - 1));
                return t - 1 + (logSigma - lo) / (hi - lo);
            }
        }
        return s.TrainSteps - 1;
    }

    /// <summary>The sigma at a continuous timestep, the inverse of <see cref="TimestepFromSigma"/>.</summary>
    public static double SigmaAt(this INoiseScheduler s, double t)
    {
        if (t <= 0) return s.Sigma(0);
        if (t >= s.TrainSteps - 1) return s.Sigma(s.TrainSteps - 1);
        int lo = (int)Math.Floor(t);
        double w = t - lo;
        if (w == 0) return s.Sigma(lo);
        return Math.Exp((1 - w) * Math.Log(s.Sigma(lo)) + w * Math.Log(s.Sigma(lo + 1)));
    }

    /// <summary>
    /// N distinct training timesteps in decreasing order, chosen by <paramref name="spacing"/>.
    /// </summary>
    /// <exception cref="DiffusionException"><paramref name="steps"/> is below 1 or above T.</exception>
    public static int[] Timesteps(this INoiseScheduler s, int steps, TimestepSpacing spacing = TimestepSpacing.Trailing)
    {
        int T = s.TrainSteps;
        if (steps < 1 || steps > T)
            throw new DiffusionException($"Sampling steps must be between 1 and {T} (the training steps), got {steps}.");
        var ts = new int[steps];
        for (int i = 0; i < steps; i++)
        {
            ts[i] = spacing switch
            {
                TimestepSpacing.Linspace => steps == 1 ? T - 1 : (int)Math.Round((double)(T - 1) * i / (steps - 1)),
                TimestepSpacing.Leading => i * (T / steps),
                TimestepSpacing.Trailing => (int)Math.Round(T - (double)T * (steps - 1 - i) / steps) - 1,
                _ => throw new DiffusionException($"Unknown timestep spacing {spacing}."),
            };
        }
        Array.Reverse(ts);
        for (int i = 1; i < ts.Length; i++)
            if (ts[i] >= ts[i - 1]) throw new InvalidOperationException($"Timestep spacing {spacing} produced a duplicate at {ts[i]}.");
        return ts;
    }

    /// <summary>
    /// N sigmas from sigma_max down to sigma_min spaced as in Karras et al. 2022, Eq. 5 (rho = 7), followed by a
    /// final 0, so N + 1 values. Continuous: no rounding to training timesteps, hence no duplicates.
    /// </summary>
    public static double[] KarrasSigmas(this INoiseScheduler s, int steps, double rho = 7.0)
    {
        if (steps < 1) throw new DiffusionException($"Sampling steps must be at least 1, got {steps}.");
        var (min, max) = s.SigmaRange();
        var sigmas = new double[steps + 1];
        double a = Math.Pow(max, 1 / rho), b = Math.Pow(min, 1 / rho);
        for (int i = 0; i < steps; i++)
            sigmas[i] = Math.Pow(a + (steps == 1 ? 0 : (double)i / (steps - 1)) * (b - a), rho);
        sigmas[steps] = 0;
        return sigmas;
    }

    /// <summary>alphaBar as a float32 tensor of length T on <paramref name="device"/>.</summary>
    public static Tensor AlphaBarTensor(this INoiseScheduler s, Device? device = null)
        => tensor(s.AlphaBars.Select(a => (float)a).ToArray(), device: device);

    /// <summary>
    /// The forward process q(x_t | x0): x_t = sqrt(alphaBar_t)·x0 + sqrt(1 − alphaBar_t)·eps
    /// (Ho et al. 2020, Eq. 4), one timestep per batch row.
    /// </summary>
    /// <param name="s">The schedule.</param>
    /// <param name="x0">Clean samples (B, …).</param>
    /// <param name="eps">Standard normal noise, same shape.</param>
    /// <param name="t">Integer timesteps, int64, shape (B).</param>
    public static Tensor AddNoise(this INoiseScheduler s, Tensor x0, Tensor eps, Tensor t)
    {
        using var scope = NewDisposeScope();
        var (alpha, sigma) = s.Scales(t, x0);
        return (alpha * x0 + sigma * eps).MoveToOuterDisposeScope();
    }

    /// <summary>alpha_t and sigma_t (VP) for integer timesteps <paramref name="t"/> (B), shaped (B, 1, 1, …) to
    /// broadcast against <paramref name="like"/> and with its dtype.</summary>
    public static (Tensor Alpha, Tensor Sigma) Scales(this INoiseScheduler s, Tensor t, Tensor like)
    {
        var ab = s.AlphaBarTensor(like.device).index_select(0, t.to(ScalarType.Int64));
        var shape = new long[like.dim()];
        Array.Fill(shape, 1L);
        shape[0] = -1;
        ab = ab.reshape(shape); // (B, 1, 1, 1)
        return (ab.sqrt().to(like.dtype), (1 - ab).sqrt().to(like.dtype));
    }

    /// <summary>Uniform random training timesteps in [0, T), int64, shape (<paramref name="batch"/>).</summary>
    public static Tensor SampleTimesteps(this INoiseScheduler s, long batch, Generator? generator, Device? device = null)
        => randint(0, s.TrainSteps, new[] { batch }, dtype: ScalarType.Int64, generator: generator).to(device ?? CPU);
}
