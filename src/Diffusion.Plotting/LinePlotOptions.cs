namespace Diffusion.Plotting;

/// <summary>How <see cref="LinePlot"/> draws a chart. Immutable; values are checked when set.</summary>
public sealed record LinePlotOptions
{
    private readonly int _width = 800;
    private readonly int _height = 480;
    private readonly double _smoothing = 0.9;

    /// <summary>A title drawn above the chart, or null for none. Default null.</summary>
    public string? Title { get; init; }

    /// <summary>The x-axis caption, drawn under the axis; null for none. Default "step".</summary>
    public string? XLabel { get; init; } = "step";

    /// <summary>The y-axis caption, drawn along the axis; null for none. Default "loss".</summary>
    public string? YLabel { get; init; } = "loss";

    /// <summary>Use a logarithmic (base 10) y axis; values ≤ 0 are then left out. Default false.</summary>
    public bool LogY { get; init; }

    /// <summary>The corner of the plot area that holds the legend (smoothed or multi-series charts). Default
    /// <see cref="PlotCorner.TopRight"/>; put it where the curves are not, e.g. bottom right for rising accuracy.</summary>
    public PlotCorner LegendCorner { get; init; } = PlotCorner.TopRight;

    /// <summary>Use a logarithmic (base 10) x axis, e.g. for step or evaluation counts from 5 to 1000; points with
    /// x ≤ 0 are then left out. Default false.</summary>
    public bool LogX { get; init; }

    /// <summary>
    /// Weight α of the exponential moving average drawn over the raw curve, in [0, 1): ema_t = α·ema_{t−1} + (1 − α)·y_t,
    /// bias-corrected at the start as TensorBoard does. 0 draws only the raw curve. Default 0.9.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside [0, 1).</exception>
    public double Smoothing
    {
        get => _smoothing;
        init => _smoothing = value is >= 0 and < 1 ? value : throw new ArgumentOutOfRangeException(nameof(Smoothing), value, "Smoothing must be in [0, 1).");
    }

    /// <summary>Image width in pixels, 160 … 8192. Default 800.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside 160 … 8192.</exception>
    public int Width
    {
        get => _width;
        init => _width = value is >= 160 and <= 8192 ? value : throw new ArgumentOutOfRangeException(nameof(Width), value, "Width must be in 160 … 8192 pixels.");
    }

    /// <summary>Image height in pixels, 120 … 8192. Default 480.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside 120 … 8192.</exception>
    public int Height
    {
        get => _height;
        init => _height = value is >= 120 and <= 8192 ? value : throw new ArgumentOutOfRangeException(nameof(Height), value, "Height must be in 120 … 8192 pixels.");
    }
}

/// <summary>A corner of a chart's plot area.</summary>
public enum PlotCorner
{
    /// <summary>Top right.</summary>
    TopRight,

    /// <summary>Top left.</summary>
    TopLeft,

    /// <summary>Bottom right.</summary>
    BottomRight,

    /// <summary>Bottom left.</summary>
    BottomLeft,
}
