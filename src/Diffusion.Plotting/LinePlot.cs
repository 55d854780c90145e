using System.Globalization;
using Diffusion.Core;
using ScottPlot;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Diffusion.Plotting;

/// <summary>
/// A line chart, e.g. a loss curve: the raw values as a thin light line, their exponential moving average as a thick
/// dark one, axes with tick labels, optional log x and y axes and a title; or several named series with markers and a
/// legend (e.g. FID against NFE per sampler).
/// </summary>
/// <remarks>
/// <para><b>Why ScottPlot</b> (STYLE.md: maintained libraries over hand-written ones). Until now these charts were drawn
/// pixel by pixel in Diffusion.Core with a 5×7 bitmap font, because ImageSharp 2 draws neither text nor vectors; that
/// rasteriser, font and tick placement (about 300 lines) are gone, and ScottPlot 5.1.59 gives anti-aliased lines, real
/// text and its own layout. Measured on the 2-core Debian 12 machine, headless and offline: an 800×480 loss curve of
/// 2,000 steps on a log y axis renders and saves in 60–120 ms (0.35–0.6 s for the first chart of a process: JIT and font
/// loading), a 2,000-point scatter plot in 10 colours in 60–140 ms. OxyPlot 2.2 (OxyPlot.SkiaSharp) drew the same charts
/// as fast but is tied to SkiaSharp 2.88, needs its Linux native assets added by hand, and throws
/// (ArgumentNullException in SKShaper) on a machine without fonts.</para>
/// <para><b>Costs.</b> ScottPlot brings SkiaSharp 3.119 and HarfBuzzSharp with native libraries for every platform:
/// about 160 MB in a build output, 11.5 MB of it for linux-x64 (hard links keep the copies from using disk; a
/// <c>dotnet publish -r linux-x64</c> carries 13 MB in all). SkiaSharp's Linux build finds fonts only in
/// /usr/share/fonts and, with none there, ScottPlot silently draws no text at all; so every chart uses DejaVu Sans
/// embedded in this assembly (0.76 MB, see <c>Fonts/LICENSE.txt</c>, and <see cref="PlotFont"/>), and renders
/// byte-identical PNGs with and without system fonts (measured).</para>
/// <para>ScottPlot 5 has no logarithmic axis type: log axes plot log10 of the data, labelled by
/// <see cref="TickLabels"/>.</para>
/// </remarks>
public static class LinePlot
{
    private static readonly Rgb24 Raw = new(160, 196, 232);
    private static readonly Rgb24 Smooth = new(31, 100, 180);

    // Tableau's 10 categorical colours: distinct for most kinds of colour blindness and in greyscale print.
    private static readonly Rgb24[] Palette =
    [
        new(31, 119, 180), new(255, 127, 14), new(44, 160, 44), new(214, 39, 40), new(148, 103, 189),
        new(140, 86, 75), new(227, 119, 194), new(127, 127, 127), new(188, 189, 34), new(23, 190, 207),
    ];

    /// <summary>Draws y against x.</summary>
    /// <param name="x">Abscissae (e.g. training steps), same length as <paramref name="y"/>.</param>
    /// <param name="y">Values (e.g. losses); non-finite values (and values ≤ 0 on a log axis) leave a gap.</param>
    /// <param name="options">Size, labels, smoothing, log axes; default <see cref="LinePlotOptions"/>.</param>
    /// <returns>The chart; the caller disposes it.</returns>
    /// <exception cref="DiffusionException">The lengths differ or no point can be drawn.</exception>
    public static Image<Rgb24> ToImage(IReadOnlyList<double> x, IReadOnlyList<double> y, LinePlotOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        options ??= new LinePlotOptions();
        if (x.Count != y.Count) throw new DiffusionException($"A line plot needs as many x as y values, got {x.Count} and {y.Count}.");
        var usable = Usable(x, y, options);
        if (usable.Length == 0)
            throw new DiffusionException($"Nothing to plot: none of the {x.Count} points is finite{PositiveNote(options)}.");

        if (options.Smoothing <= 0)
            return Render([new Curve(null, x, y, usable, Smooth, 1, false, true)], options);
        // The EMA is drawn at the raw curve's usable points only (where it is positive, on a log axis), and the axes fit
        // the raw values.
        var smooth = Ema(y, options.Smoothing);
        var drawn = usable.Where(i => double.IsFinite(smooth[i]) && (!options.LogY || smooth[i] > 0)).ToArray();
        var ema = $"EMA {options.Smoothing.ToString("0.###", CultureInfo.InvariantCulture)}";
        return Render([new Curve("raw", x, y, usable, Raw, 1, false, true), new Curve(ema, x, smooth, drawn, Smooth, 2, false, false)], options);
    }

    /// <summary>
    /// Draws several named series in one chart with a legend, e.g. FID against NFE for each sampler on a log x axis.
    /// <see cref="LinePlotOptions.Smoothing"/> does not apply: each series is drawn as given.
    /// </summary>
    /// <param name="series">The lines, drawn in order (later ones on top), each listed in the legend.</param>
    /// <param name="options">Size, labels, log axes; default <see cref="LinePlotOptions"/>.</param>
    /// <returns>The chart; the caller disposes it.</returns>
    /// <exception cref="DiffusionException">There is no series, a series has more x than y values or the reverse, or no point
    /// of any series can be drawn.</exception>
    public static Image<Rgb24> ToImage(IReadOnlyList<PlotSeries> series, LinePlotOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(series);
        options ??= new LinePlotOptions();
        if (series.Count == 0) throw new DiffusionException("A line plot needs at least one series.");
        var curves = new List<Curve>();
        int nextColor = 0;
        foreach (var s in series)
        {
            ArgumentNullException.ThrowIfNull(s);
            ArgumentNullException.ThrowIfNull(s.X);
            ArgumentNullException.ThrowIfNull(s.Y);
            if (s.X.Count != s.Y.Count)
                throw new DiffusionException($"Series '{s.Name}' has {s.X.Count} x values but {s.Y.Count} y values; give each point both.");
            var color = s.Color ?? Palette[nextColor++ % Palette.Length];
            curves.Add(new Curve(s.Name ?? "", s.X, s.Y, Usable(s.X, s.Y, options), color, s.Thickness, s.Markers, true));
        }
        if (curves.All(c => c.Points.Length == 0))
            throw new DiffusionException($"Nothing to plot: no point of the {series.Count} series is finite{PositiveNote(options)}.");
        return Render(curves, options);
    }

    /// <summary>Draws the chart (see <see cref="ToImage(IReadOnlyList{double}, IReadOnlyList{double}, LinePlotOptions?)"/>) and writes it as a PNG, replacing <paramref name="path"/> atomically.</summary>
    /// <param name="x">Abscissae (e.g. training steps).</param>
    /// <param name="y">Values (e.g. losses).</param>
    /// <param name="path">The PNG file; its directory is created if needed.</param>
    /// <param name="options">Size, labels, smoothing, log axes.</param>
    /// <exception cref="DiffusionException">The lengths differ or no point can be drawn.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static void SavePng(IReadOnlyList<double> x, IReadOnlyList<double> y, string path, LinePlotOptions? options = null)
    {
        using var image = ToImage(x, y, options);
        PlotRendering.SavePng(image, path);
    }

    /// <summary>Draws several named series (see <see cref="ToImage(IReadOnlyList{PlotSeries}, LinePlotOptions?)"/>) and writes a PNG,
    /// replacing <paramref name="path"/> atomically.</summary>
    /// <param name="series">The lines.</param>
    /// <param name="path">The PNG file; its directory is created if needed.</param>
    /// <param name="options">Size, labels, log axes.</param>
    /// <exception cref="DiffusionException">There is no series, lengths differ, or no point can be drawn.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static void SavePng(IReadOnlyList<PlotSeries> series, string path, LinePlotOptions? options = null)
    {
        using var image = ToImage(series, options);
        PlotRendering.SavePng(image, path);
    }

    /// <summary>
    /// The bias-corrected exponential moving average of <paramref name="y"/>: m_t = α·m_{t−1} + (1 − α)·y_t,
    /// reported as m_t / (1 − α^n) after n finite values. Non-finite values are skipped (the previous average is repeated;
    /// NaN before the first finite value).
    /// </summary>
    /// <param name="y">The values.</param>
    /// <param name="smoothing">α in [0, 1).</param>
    /// <exception cref="DiffusionException"><paramref name="smoothing"/> is outside [0, 1).</exception>
    public static double[] Ema(IReadOnlyList<double> y, double smoothing)
    {
        ArgumentNullException.ThrowIfNull(y);
        if (smoothing is not (>= 0 and < 1)) throw new DiffusionException($"EMA smoothing must be in [0, 1), got {smoothing}.");
        var result = new double[y.Count];
        double m = 0, weight = 0;
        for (int i = 0; i < y.Count; i++)
        {
            if (double.IsFinite(y[i]))
            {
                m = smoothing * m + (1 - smoothing) * y[i];
                weight = smoothing * weight + (1 - smoothing);
            }
            result[i] = weight > 0 ? m / weight : double.NaN;
        }
        return result;
    }

    // A line to draw: its legend label (null: none), the indices of its drawable points, style, and whether its points
    // set the axis ranges.
    private sealed record Curve(string? Label, IReadOnlyList<double> X, IReadOnlyList<double> Y, int[] Points, Rgb24 Color, int Thickness, bool Markers, bool SetsRange);

    private static Image<Rgb24> Render(IReadOnlyList<Curve> curves, LinePlotOptions options)
    {
        Func<double, double> fx = options.LogX ? Math.Log10 : v => v;
        Func<double, double> fy = options.LogY ? Math.Log10 : v => v;
        var ranging = curves.Where(c => c.SetsRange).ToArray();
        var (gxMin, gxMax) = Range(ranging.SelectMany(c => c.Points.Select(i => fx(c.X[i]))));
        var (fMin, fMax) = Range(ranging.SelectMany(c => c.Points.Select(i => fy(c.Y[i]))));
        if (gxMin == gxMax) { gxMin -= options.LogX ? 0.5 : 1; gxMax += options.LogX ? 0.5 : 1; }
        if (curves.Any(c => c.Markers))
        {
            // Room for the markers at both ends.
            double xPad = (gxMax - gxMin) * 0.03;
            gxMin -= xPad;
            gxMax += xPad;
        }
        if (fMin == fMax) { fMin -= options.LogY ? 0.5 : Math.Max(1e-3, Math.Abs(fMin) * 0.1); fMax += fMax - fMin; }
        double pad = (fMax - fMin) * 0.05;

        using var plot = PlotRendering.NewPlot();
        foreach (var curve in curves) Add(plot, curve, fx, fy, options);
        plot.Axes.SetLimits(gxMin, gxMax, fMin - pad, fMax + pad);
        plot.Axes.Bottom.TickGenerator = options.LogX ? TickLabels.Log() : TickLabels.Linear();
        plot.Axes.Left.TickGenerator = options.LogY ? TickLabels.Log() : TickLabels.Linear();
        if (options.Title is not null) plot.Title(options.Title);
        if (options.XLabel is not null) plot.XLabel(options.XLabel);
        if (options.YLabel is not null) plot.YLabel(options.YLabel);
        if (curves.Any(c => c.Label is not null))
        {
            var legend = plot.ShowLegend(options.LegendCorner switch
            {
                PlotCorner.TopLeft => Alignment.UpperLeft,
                PlotCorner.BottomRight => Alignment.LowerRight,
                PlotCorner.BottomLeft => Alignment.LowerLeft,
                _ => Alignment.UpperRight,
            });
            legend.ShadowColor = Colors.Transparent;
            legend.OutlineColor = PlotRendering.ToColor(new Rgb24(200, 200, 200));
        }
        return PlotRendering.ToImage(plot, options.Width, options.Height);
    }

    // One ScottPlot scatter per unbroken run of drawable points (a skipped index leaves a gap); the legend entry comes
    // from the first, or from an invisible stand-in when the curve has no drawable point.
    private static void Add(Plot plot, Curve curve, Func<double, double> fx, Func<double, double> fy, LinePlotOptions options)
    {
        var color = PlotRendering.ToColor(curve.Color);
        bool labelled = false;
        foreach (var run in Runs(curve.Points))
        {
            var line = plot.Add.ScatterLine(run.Select(i => fx(curve.X[i])).ToArray(), run.Select(i => fy(curve.Y[i])).ToArray(), color);
            Style(line, curve);
            if (!labelled && curve.Label is not null) { line.LegendText = curve.Label; labelled = true; }
        }
        if (!labelled && curve.Label is not null)
        {
            var standIn = plot.Add.ScatterLine(Array.Empty<double>(), Array.Empty<double>(), color);
            Style(standIn, curve);
            standIn.LegendText = curve.Label;
        }
    }

    private static void Style(ScottPlot.Plottables.Scatter line, Curve curve)
    {
        line.LineWidth = curve.Thickness;
        line.MarkerShape = curve.Markers ? MarkerShape.FilledSquare : MarkerShape.None;
        line.MarkerSize = curve.Markers ? 5 : 0;
    }

    private static IEnumerable<int[]> Runs(int[] points)
    {
        int start = 0;
        for (int k = 1; k <= points.Length; k++)
            if (k == points.Length || points[k] != points[k - 1] + 1)
            {
                if (k > start) yield return points[start..k];
                start = k;
            }
    }

    private static int[] Usable(IReadOnlyList<double> x, IReadOnlyList<double> y, LinePlotOptions options)
        => Enumerable.Range(0, x.Count)
            .Where(i => double.IsFinite(x[i]) && double.IsFinite(y[i]) && (!options.LogX || x[i] > 0) && (!options.LogY || y[i] > 0))
            .ToArray();

    private static string PositiveNote(LinePlotOptions options) => (options.LogX, options.LogY) switch
    {
        (true, true) => " and positive in x and y (log axes)",
        (true, false) => " and positive in x (log x axis)",
        (false, true) => " and positive (log y axis)",
        _ => "",
    };

    private static (double Min, double Max) Range(IEnumerable<double> values)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var v in values) { min = Math.Min(min, v); max = Math.Max(max, v); }
        return (min, max);
    }
}
