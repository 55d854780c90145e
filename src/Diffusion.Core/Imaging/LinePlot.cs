using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Diffusion.Core.Imaging;

/// <summary>
/// A small line chart, e.g. a loss curve: the raw values as a thin light line, their exponential moving
/// average as a thick dark one, axes with tick labels, optional log x and y axes and a title; or several named
/// series with markers and a legend (e.g. FID against NFE per sampler). Drawn pixel by pixel (ImageSharp 2 has
/// no vector drawing), so it needs no fonts or native libraries.
/// </summary>
public static class LinePlot
{
    private static readonly Rgb24 Paper = new(255, 255, 255);
    private static readonly Rgb24 Ink = new(40, 40, 40);
    private static readonly Rgb24 Grid = new(228, 228, 228);
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
            return Render([new Curve(x, y, usable, Smooth, 1, false, true)], [], options);
        // The EMA is drawn at the raw curve's usable points only, and the axes fit the raw values.
        var smooth = Ema(y, options.Smoothing);
        var ema = $"EMA {options.Smoothing.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)}";
        return Render(
            [new Curve(x, y, usable, Raw, 1, false, true), new Curve(x, smooth, usable, Smooth, 2, false, false)],
            [new LegendEntry("raw", Raw, 1, false), new LegendEntry(ema, Smooth, 2, false)], options);
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
        var legend = new List<LegendEntry>();
        int nextColor = 0;
        foreach (var s in series)
        {
            ArgumentNullException.ThrowIfNull(s);
            ArgumentNullException.ThrowIfNull(s.X);
            ArgumentNullException.ThrowIfNull(s.Y);
            if (s.X.Count != s.Y.Count)
                throw new DiffusionException($"Series '{s.Name}' has {s.X.Count} x values but {s.Y.Count} y values; give each point both.");
            var color = s.Color ?? Palette[nextColor++ % Palette.Length];
            curves.Add(new Curve(s.X, s.Y, Usable(s.X, s.Y, options), color, s.Thickness, s.Markers, true));
            legend.Add(new LegendEntry(s.Name ?? "", color, s.Thickness, s.Markers));
        }
        if (curves.All(c => c.Points.Length == 0))
            throw new DiffusionException($"Nothing to plot: no point of the {series.Count} series is finite{PositiveNote(options)}.");
        return Render(curves, legend, options);
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
        ImageGrid.SavePng(image, path, grayscale: false);
    }

    // A line to draw: the indices of its drawable points, style, and whether its points set the axis ranges.
    private sealed record Curve(IReadOnlyList<double> X, IReadOnlyList<double> Y, int[] Points, Rgb24 Color, int Thickness, bool Markers, bool SetsRange);

    private sealed record LegendEntry(string Label, Rgb24 Color, int Thickness, bool Marker);

    private static Image<Rgb24> Render(IReadOnlyList<Curve> curves, IReadOnlyList<LegendEntry> legend, LinePlotOptions options)
    {
        var ranging = curves.Where(c => c.SetsRange).ToArray();
        var (xMin, xMax) = Range(ranging.SelectMany(c => c.Points.Select(i => c.X[i])));
        var (yMin, yMax) = Range(ranging.SelectMany(c => c.Points.Select(i => c.Y[i])));
        Func<double, double> fx = options.LogX ? Math.Log10 : v => v;
        Func<double, double> fy = options.LogY ? Math.Log10 : v => v;
        double gxMin = fx(xMin), gxMax = fx(xMax);
        if (gxMin == gxMax) { gxMin -= options.LogX ? 0.5 : 1; gxMax += options.LogX ? 0.5 : 1; }
        if (curves.Any(c => c.Markers))
        {
            // Room for the markers at both ends.
            double xPad = (gxMax - gxMin) * 0.03;
            gxMin -= xPad;
            gxMax += xPad;
        }
        double fMin = fy(yMin), fMax = fy(yMax);
        if (fMin == fMax) { fMin -= options.LogY ? 0.5 : Math.Max(1e-3, Math.Abs(fMin) * 0.1); fMax += fMax - fMin; }
        double pad = (fMax - fMin) * 0.05;
        fMin -= pad;
        fMax += pad;

        var (yTicks, yLabels) = Ticks(options.LogY, fMin, fMax, 6);
        var (xTicks, xLabels) = Ticks(options.LogX, gxMin, gxMax, Math.Clamp(options.Width / 110, 3, 12));

        const int Margin = 12, TitleScale = 2;
        int lineH = BitmapFont.GlyphHeight;
        int top = Margin + (options.Title is null ? 0 : lineH * TitleScale + 10) + (options.YLabel is null ? 0 : lineH + 8);
        int left = Margin + yLabels.Select(l => BitmapFont.Measure(l, 1)).DefaultIfEmpty(0).Max() + 8;
        int bottom = options.Height - Margin - lineH - 8 - (options.XLabel is null ? 0 : lineH + 8);
        int right = options.Width - Margin - BitmapFont.Measure(xLabels.LastOrDefault() ?? "", 1) / 2;
        if (right - left < 40 || bottom - top < 40)
            throw new DiffusionException($"A {options.Width}x{options.Height} image leaves no room for the plot; make it larger.");

        int Px(double v) => left + (int)Math.Round((fx(v) - gxMin) / (gxMax - gxMin) * (right - left));
        int Py(double v) => bottom - (int)Math.Round((fy(v) - fMin) / (fMax - fMin) * (bottom - top));

        var canvas = new Canvas(options.Width, options.Height, Paper);
        foreach (var t in xTicks) canvas.Line(Px(t), top, Px(t), bottom, Grid);
        foreach (var t in yTicks) canvas.Line(left, Py(t), right, Py(t), Grid);

        canvas.SetClip(left + 1, top + 1, right - 1, bottom - 1);
        foreach (var curve in curves) DrawCurve(canvas, curve, Px, Py, options);
        canvas.ResetClip();

        canvas.Rectangle(left, top, right, bottom, Ink);
        for (int i = 0; i < xTicks.Length; i++)
        {
            int px = Px(xTicks[i]);
            canvas.Line(px, bottom, px, bottom + 4, Ink);
            canvas.Text(px - BitmapFont.Measure(xLabels[i], 1) / 2, bottom + 8, xLabels[i], Ink);
        }
        for (int i = 0; i < yTicks.Length; i++)
        {
            int py = Py(yTicks[i]);
            canvas.Line(left - 4, py, left, py, Ink);
            canvas.Text(left - 8 - BitmapFont.Measure(yLabels[i], 1), py - lineH / 2, yLabels[i], Ink);
        }
        if (options.Title is not null)
            canvas.Text((options.Width - BitmapFont.Measure(options.Title, TitleScale)) / 2, Margin, options.Title, Ink, TitleScale);
        if (options.YLabel is not null)
            canvas.Text(Math.Max(Margin, left - BitmapFont.Measure(options.YLabel, 1) / 2), top - lineH - 8, options.YLabel, Ink);
        if (options.XLabel is not null)
            canvas.Text((left + right - BitmapFont.Measure(options.XLabel, 1)) / 2, options.Height - Margin - lineH, options.XLabel, Ink);
        if (legend.Count > 0) DrawLegend(canvas, (left, top, right, bottom), legend, options.LegendCorner);
        return canvas.ToImage();
    }

    // Tick positions (data units) and labels for an axis spanning [gMin, gMax] in plot units (log10 of the data on a log axis).
    private static (double[] Ticks, string[] Labels) Ticks(bool log, double gMin, double gMax, int target)
    {
        if (log)
        {
            var ticks = AxisTicks.Log(Math.Pow(10, gMin), Math.Pow(10, gMax));
            return (ticks, ticks.Select(v => AxisTicks.Format(v, v)).ToArray());
        }
        var (linear, step) = AxisTicks.Linear(gMin, gMax, target);
        return (linear, linear.Select(v => AxisTicks.Format(v, step)).ToArray());
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
        ImageGrid.SavePng(image, path, grayscale: false);
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

    // Joins consecutive drawable points (a skipped index leaves a gap) and stamps the markers.
    private static void DrawCurve(Canvas canvas, Curve curve, Func<double, int> px, Func<double, int> py, LinePlotOptions options)
    {
        int? prevX = null, prevY = null;
        int prevIndex = -2;
        foreach (int i in curve.Points)
        {
            double y = curve.Y[i];
            if (!double.IsFinite(y) || (options.LogY && y <= 0)) { prevIndex = -2; continue; }
            int cx = px(curve.X[i]), cy = py(y);
            if (prevX is int ax && prevY is int ay && prevIndex == i - 1) canvas.Line(ax, ay, cx, cy, curve.Color, curve.Thickness);
            else canvas.Line(cx, cy, cx, cy, curve.Color, curve.Thickness);
            if (curve.Markers) canvas.Fill(cx - 2, cy - 2, cx + 2, cy + 2, curve.Color);
            (prevX, prevY, prevIndex) = (cx, cy, i);
        }
    }

    // A boxed legend 8 pixels inside a corner of the plot area, one 12-pixel row per entry.
    private static void DrawLegend(Canvas canvas, (int Left, int Top, int Right, int Bottom) area, IReadOnlyList<LegendEntry> entries, PlotCorner corner)
    {
        int width = entries.Max(e => BitmapFont.Measure(e.Label, 1)) + 36, height = 8 + 12 * entries.Count;
        bool onRight = corner is PlotCorner.TopRight or PlotCorner.BottomRight, onTop = corner is PlotCorner.TopRight or PlotCorner.TopLeft;
        int x0 = onRight ? area.Right - 8 - width : area.Left + 8, x1 = x0 + width;
        int y0 = onTop ? area.Top + 8 : area.Bottom - 8 - height, y1 = y0 + height;
        canvas.Fill(x0, y0, x1, y1, Paper);
        canvas.Rectangle(x0, y0, x1, y1, Grid);
        for (int i = 0; i < entries.Count; i++)
        {
            var e = entries[i];
            int ly = y0 + 10 + 12 * i;
            canvas.Line(x0 + 6, ly, x0 + 24, ly, e.Color, e.Thickness);
            if (e.Marker) canvas.Fill(x0 + 13, ly - 2, x0 + 17, ly + 2, e.Color);
            canvas.Text(x0 + 30, ly - 3, e.Label, Ink);
        }
    }

    private static (double Min, double Max) Range(IEnumerable<double> values)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var v in values) { min = Math.Min(min, v); max = Math.Max(max, v); }
        return (min, max);
    }
}
