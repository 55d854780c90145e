using SixLabors.ImageSharp.PixelFormats;

namespace Diffusion.Plotting;

/// <summary>One named line of a multi-series <see cref="LinePlot"/>, e.g. FID against NFE for one sampler.</summary>
/// <param name="Name">The legend entry.</param>
/// <param name="X">Abscissae, same length as <paramref name="Y"/>; points are joined in this order.</param>
/// <param name="Y">Values; a non-finite value (or one ≤ 0 on a log axis) leaves a gap.</param>
public sealed record PlotSeries(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y)
{
    /// <summary>The line colour; null takes the next unused colour of a 10-colour palette (series order). Default null.</summary>
    public Rgb24? Color { get; init; }

    /// <summary>Draw a 5×5 square at every point, for sparse series whose points matter. Default true.</summary>
    public bool Markers { get; init; } = true;

    /// <summary>Line width in pixels, 1 … 6. Default 2.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside 1 … 6.</exception>
    public int Thickness
    {
        get;
        init => field = value is >= 1 and <= 6 ? value : throw new ArgumentOutOfRangeException(nameof(Thickness), value, "Line thickness must be 1 … 6 pixels.");
    } = 2;
}
