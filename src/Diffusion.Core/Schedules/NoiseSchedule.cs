namespace Diffusion.Core.Schedules;

/// <summary>
/// The standard discrete schedules (linear, cosine, sigmoid), optionally rescaled to zero terminal SNR,
/// computed in float64 once at construction.
/// </summary>
public sealed class NoiseSchedule : INoiseScheduler
{
    private readonly double[] _alphaBars;

    /// <summary>Builds the schedule described by <paramref name="options"/>.</summary>
    /// <exception cref="DiffusionException">The options are out of range.</exception>
    public NoiseSchedule(ScheduleOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.TrainSteps < 2) throw new DiffusionException($"A schedule needs at least 2 training steps, got {options.TrainSteps}.");
        if (!(options.BetaStart > 0 && options.BetaStart < options.BetaEnd && options.BetaEnd < 1))
            throw new DiffusionException($"Betas must satisfy 0 < BetaStart < BetaEnd < 1, got {options.BetaStart} and {options.BetaEnd}.");
        Options = options;
        _alphaBars = options.Kind switch
        {
            BetaSchedule.Linear => FromBetas(Linear(options)),
            BetaSchedule.Cosine => Cosine(options.TrainSteps),
            BetaSchedule.Sigmoid => FromBetas(Sigmoid(options)),
            _ => throw new DiffusionException($"Unknown schedule kind {options.Kind}."),
        };
        if (options.ZeroTerminalSnr) _alphaBars = RescaleZeroTerminalSnr(_alphaBars);
    }

    /// <summary>The options this schedule was built from.</summary>
    public ScheduleOptions Options { get; }

    /// <inheritdoc />
    public string Name => Options.Kind.ToString().ToLowerInvariant() + (Options.ZeroTerminalSnr ? "-ztsnr" : "");

    /// <inheritdoc />
    public int TrainSteps => _alphaBars.Length;

    /// <inheritdoc />
    public IReadOnlyList<double> AlphaBars => _alphaBars;

    private static double[] Linear(ScheduleOptions o)
    {
        var betas = new double[o.TrainSteps];
        for (int t = 0; t < betas.Length; t++)
            betas[t] = o.BetaStart + (o.BetaEnd - o.BetaStart) * t / (betas.Length - 1);
        return betas;
    }

    private static double[] Sigmoid(ScheduleOptions o)
    {
        var betas = new double[o.TrainSteps];
        for (int t = 0; t < betas.Length; t++)
        {
            double u = -6 + 12.0 * t / (betas.Length - 1);
            betas[t] = o.BetaStart + (o.BetaEnd - o.BetaStart) / (1 + Math.Exp(-u));
        }
        return betas;
    }

    private static double[] Cosine(int steps)
    {
        const double s = 0.008;
        static double F(double u) => Math.Pow(Math.Cos((u + s) / (1 + s) * Math.PI / 2), 2);
        var alphaBars = new double[steps];
        double prev = 1.0;
        for (int t = 0; t < steps; t++)
        {
            // Betas clipped at 0.999 so the last step keeps a little signal (Nichol & Dhariwal 2021, Sec. 3.2).
            double beta = Math.Min(1 - F((t + 1.0) / steps) / F((double)t / steps), 0.999);
            prev *= 1 - beta;
            alphaBars[t] = prev;
        }
        return alphaBars;
    }

    private static double[] FromBetas(double[] betas)
    {
        var alphaBars = new double[betas.Length];
        double prev = 1.0;
        for (int t = 0; t < betas.Length; t++) alphaBars[t] = prev *= 1 - betas[t];
        return alphaBars;
    }

    /// <summary>Shifts and scales sqrt(alphaBar) so its last value is 0 and its first unchanged (Lin et al. 2023, Algorithm 1).</summary>
    private static double[] RescaleZeroTerminalSnr(double[] alphaBars)
    {
        var a = alphaBars.Select(Math.Sqrt).ToArray();
        double first = a[0], last = a[^1];
        for (int t = 0; t < a.Length; t++) a[t] = (a[t] - last) * first / (first - last);
        return a.Select(x => x * x).ToArray();
    }
}
