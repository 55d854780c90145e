using System.Globalization;
using Diffusion.Core;

namespace Diffusion.Samplers;

/// <summary>
/// A range of noise levels σ in (<see cref="Low"/>, <see cref="High"/>], the run-independent way to name a guidance
/// interval (Kynkäänniemi et al. 2024 give theirs in σ, e.g. (0.28, 5.42]); <see cref="ToTimesteps"/> turns it into the
/// <see cref="TimestepInterval"/> of one schedule.
/// </summary>
public readonly record struct SigmaInterval
{
    /// <summary>Creates the interval.</summary>
    /// <param name="low">Lower noise level σ, ≥ 0.</param>
    /// <param name="high">Upper noise level σ, &gt; <paramref name="low"/>.</param>
    /// <exception cref="DiffusionException">Not 0 ≤ <paramref name="low"/> &lt; <paramref name="high"/>.</exception>
    public SigmaInterval(double low, double high)
    {
        if (!(low >= 0 && high > low))
            throw new DiffusionException(string.Create(CultureInfo.InvariantCulture,
                $"A guidance interval needs two noise levels with 0 ≤ low < high (sigma), got ({low}, {high}]."));
        Low = low;
        High = high;
    }

    /// <summary>Lower noise level σ (excluded).</summary>
    public double Low { get; }

    /// <summary>Upper noise level σ (included).</summary>
    public double High { get; }

    /// <summary>The timesteps of <paramref name="schedule"/> whose σ lies in this range.</summary>
    public TimestepInterval ToTimesteps(INoiseScheduler schedule) => TimestepInterval.FromSigma(schedule, Low, High);

    /// <summary>Parses "LOW,HIGH" (invariant culture, spaces allowed), e.g. "0.28,5.42"; false unless 0 ≤ LOW &lt; HIGH.</summary>
    public static bool TryParse(string? text, out SigmaInterval interval)
    {
        interval = default;
        var parts = (text ?? "").Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 2 || !double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double low)
            || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double high) || !(low >= 0 && high > low))
            return false;
        interval = new SigmaInterval(low, high);
        return true;
    }

    /// <summary>"LOW,HIGH" in invariant culture, the form <see cref="TryParse"/> reads.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Low},{High}");
}
