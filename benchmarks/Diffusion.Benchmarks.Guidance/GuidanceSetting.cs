using System.Globalization;
using Diffusion.Samplers;

namespace Diffusion.Benchmarks.Guidance;

/// <summary>One guidance configuration of the study: a scale, optionally limited to a timestep interval or rescaled.</summary>
/// <param name="Kind">"plain", "interval" or "rescale": the series the setting belongs to in the plots.</param>
/// <param name="Scale">Guidance scale w.</param>
/// <param name="Interval">Timesteps in which guidance applies (interval variant), else null.</param>
/// <param name="Rescale">φ of guidance rescale (rescale variant), else 0.</param>
internal sealed record GuidanceSetting(string Kind, double Scale, TimestepInterval? Interval = null, double Rescale = 0)
{
    /// <summary>A short label for tables and the grid, e.g. "w=3", "w=3 interval", "w=3 rescale 0.7".</summary>
    public string Label => Kind switch
    {
        "interval" => string.Create(CultureInfo.InvariantCulture, $"w={Scale} interval"),
        "rescale" => string.Create(CultureInfo.InvariantCulture, $"w={Scale} rescale {Rescale}"),
        _ => string.Create(CultureInfo.InvariantCulture, $"w={Scale}"),
    };

    /// <summary>The options to pass to <see cref="ClassifierFreeGuidance"/>; null for plain guidance.</summary>
    public GuidanceOptions? Options => Kind == "plain" ? null : new GuidanceOptions { Interval = Interval, Rescale = Rescale };
}
