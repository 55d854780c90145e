using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Diffusion.Core.Imaging;

/// <summary>
/// A small line chart, e.g. a loss curve: the raw values as a thin light line, their exponential moving
/// average as a thick dark one, axes with tick labels, optional log y axis and a title. Drawn pixel by
/// pixel (ImageSharp 2 has no vector drawing), so it needs no fonts or native libraries.
/// </summary>
public static class LinePlot
{
    private static readonly Rgb24 Paper = new(255, 255, 255);
    private static readonly Rgb24 Ink = new(40, 40, 40);
    private static readonly Rgb24 Grid = new(228, 228, 228);
    private static readonly Rgb24 Raw = new(160, 196, 232);
    private static readonly Rgb24 Smooth = new(31, 100, 180);

    /// <summary>Draws y against x.</summary>
    /// <param name="x">Abscissae (e.g. training steps), same length as <paramref name="y"/>.</param>
    /// <param name="y">Values (e.g. losses); non-finite values (and values ≤ 0 on a log axis) leave a gap.</param>
    /// <param name="options">Size, labels, smoothing, log axis; default <see cref="LinePlotOptions"/>.</param>
    /// <returns>The chart; the caller disposes it.</returns>
    /// <exception cref="DiffusionException">The lengths differ or no point can be drawn.</exception>
    public static Image<Rgb24> ToImage(IReadOnlyList<double> x, IReadOnlyList<double> y, LinePlotOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        options ??= new LinePlotOptions();
        if (x.Count != y.Count) throw new DiffusionException($"A line plot needs as many x as y values, got {x.Count} and {y.Count}.");
        bool Usable(int i) => double.IsFinite(x[i]) && double.IsFinite(y[i]) && (!options.LogY || y[i] > 0);
        var usable = Enumerable.Range(0, x.Count).Where(Usable).ToArray();
        if (usable.Length == 0)
            throw new DiffusionException($"Nothing to plot: none of the {x.Count} points is finite{(options.LogY ? " and positive (log y axis)" : "")}.");

        var smooth = options.Smoothing > 0 ? Ema(y, options.Smoothing) : null;
        var (xMin, xMax) = Range(usable.Select(i => x[i]));
        var (yMin, yMax) = Range(usable.Select(i => y[i]));
        if (xMin == xMax) { xMin -= 1; xMax += 1; }
        Func<double, double> f = options.LogY ? Math.Log10 : v => v;
        double fMin = f(yMin), fMax = f(yMax);
        if (fMin == fMax) { fMin -= options.LogY ? 0.5 : Math.Max(1e-3, Math.Abs(fMin) * 0.1); fMax += fMax - fMin; }
        double pad = (fMax - fMin) * 0.05;
        fMin -= pad;
        fMax += pad;
        double lo = options.LogY ? Math.Pow(10, fMin) : fMin, hi = options.LogY ? Math.Pow(10, fMax) : fMax;

        double[] yTicks;
        string[] yLabels;
        if (options.LogY)
        {
            yTicks = AxisTicks.Log(lo, hi);
            yLabels = yTicks.Select(v => AxisTicks.Format(v, v)).ToArray();
        }
        else
        {
            (yTicks, double step) = AxisTicks.Linear(lo, hi);
            yLabels = yTicks.Select(v => AxisTicks.Format(v, step)).ToArray();
        }
        var (xTicks, xStep) = AxisTicks.Linear(xMin, xMax, Math.Clamp(options.Width / 110, 3, 12));
        var xLabels = xTicks.Select(v => AxisTicks.Format(v, xStep)).ToArray();

        const int Margin = 12, TitleScale = 2;
        int lineH = BitmapFont.GlyphHeight;
        int top = Margin + (options.Title is null ? 0 : lineH * TitleScale + 10) + (options.YLabel is null ? 0 : lineH + 8);
        int left = Margin + yLabels.Select(l => BitmapFont.Measure(l, 1)).DefaultIfEmpty(0).Max() + 8;
        int bottom = options.Height - Margin - lineH - 8 - (options.XLabel is null ? 0 : lineH + 8);
        int right = options.Width - Margin - BitmapFont.Measure(xLabels.LastOrDefault() ?? "", 1) / 2;
        if (right - left < 40 || bottom - top < 40)
            throw new DiffusionException($"A {options.Width}x{options.Height} image leaves no room for the plot; make it larger.");

        int Px(double v) => left + (int)Math.Round((v - xMin) / (xMax - xMin) * (right - left));
        int Py(double v) => bottom - (int)Math.Round((f(v) - fMin) / (fMax - fMin) * (bottom - top));

        var canvas = new Canvas(options.Width, options.Height, Paper);
        foreach (var t in xTicks) canvas.Line(Px(t), top, Px(t), bottom, Grid);
        foreach (var t in yTicks) canvas.Line(left, Py(t), right, Py(t), Grid);

        canvas.SetClip(left + 1, top + 1, right - 1, bottom - 1);
        if (smooth is null) DrawSeries(canvas, x, y, usable, Px, Py, options.LogY, Smooth, 1);
        else
        {
            DrawSeries(canvas, x, y, usable, Px, Py, options.LogY, Raw, 1);
            DrawSeries(canvas, x, smooth, usable, Px, Py, options.LogY, Smooth, 2);
        }
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
        if (smooth is not null) DrawLegend(canvas, right, top, options.Smoothing);
        return canvas.ToImage();
    }

    /// <summary>Draws the chart (see <see cref="ToImage"/>) and writes it as a PNG, replacing <paramref name="path"/> atomically.</summary>
    /// <param name="x">Abscissae (e.g. training steps).</param>
    /// <param name="y">Values (e.g. losses).</param>
    /// <param name="path">The PNG file; its directory is created if needed.</param>
    /// <param name="options">Size, labels, smoothing, log axis.</param>
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

    private static void DrawSeries(Canvas canvas, IReadOnlyList<double> x, IReadOnlyList<double> y, int[] usable,
        Func<double, int> px, Func<double, int> py, bool logY, Rgb24 color, int thickness)
    {
        int? prevX = null, prevY = null;
        int prevIndex = -2;
        foreach (int i in usable)
        {
            if (!double.IsFinite(y[i]) || (logY && y[i] <= 0)) { prevIndex = -2; continue; }
            int cx = px(x[i]), cy = py(y[i]);
            if (prevX is int ax && prevY is int ay && prevIndex == i - 1) canvas.Line(ax, ay, cx, cy, color, thickness);
            else canvas.Line(cx, cy, cx, cy, color, thickness);
            (prevX, prevY, prevIndex) = (cx, cy, i);
        }
    }

    private static void DrawLegend(Canvas canvas, int right, int top, double smoothing)
    {
        string raw = "raw", ema = $"EMA {smoothing.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)}";
        int textW = Math.Max(BitmapFont.Measure(raw, 1), BitmapFont.Measure(ema, 1));
        int x1 = right - 8, x0 = x1 - (textW + 36), y0 = top + 8, y1 = y0 + 32;
        canvas.Fill(x0, y0, x1, y1, Paper);
        canvas.Rectangle(x0, y0, x1, y1, Grid);
        canvas.Line(x0 + 6, y0 + 10, x0 + 24, y0 + 10, Raw, 1);
        canvas.Text(x0 + 30, y0 + 7, raw, Ink);
        canvas.Line(x0 + 6, y0 + 22, x0 + 24, y0 + 22, Smooth, 2);
        canvas.Text(x0 + 30, y0 + 19, ema, Ink);
    }

    private static (double Min, double Max) Range(IEnumerable<double> values)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var v in values) { min = Math.Min(min, v); max = Math.Max(max, v); }
        return (min, max);
    }
}
