using System.Globalization;
using ScottPlot;
using ScottPlot.TickGenerators;

namespace Diffusion.Plotting;

/// <summary>
/// Tick generators for the axes of <see cref="LinePlot"/>. ScottPlot 5 has no logarithmic axis: a log chart plots
/// log10 of the data on a linear axis, and its recipe (integer ticks plus <see cref="LogMinorTickGenerator"/>) labels
/// only powers of ten, so a loss falling from 0.9 to 0.03 would get the one label "0.1". <see cref="Log"/> adds the
/// 2× and 5× (or all 1…9×) labels when there is room, and labels are culture-invariant like every file the SDK writes.
/// </summary>
internal static class TickLabels
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>ScottPlot's automatic ticks for a linear axis at 60 % of its default density (its default puts a label
    /// every 0.2 on a 900-pixel axis from 0 to 5), labelled as its default does ("2,000", "0.25") but independent of
    /// the machine's culture.</summary>
    public static ITickGenerator Linear() => new NumericAutomatic { LabelFormatter = FormatLinear, TickDensity = 0.6 };

    /// <summary>Ticks for an axis whose coordinates are log10 of the data (see <see cref="LogTicks"/>).</summary>
    public static ITickGenerator Log() => new LogTicks();

    private static string FormatLinear(double v)
    {
        if (v == Math.Round(v) || Math.Abs(v) > 1000) return v.ToString("N0", Inv);
        return Math.Round(v, 10).ToString("G6", Inv);
    }

    /// <summary>"0.03", "200", "1e-5", "2e6": short labels for a tick at <paramref name="value"/> whose neighbours are
    /// <paramref name="step"/> or more apart.</summary>
    internal static string FormatLog(double value, double step)
    {
        double a = Math.Abs(value);
        if (a == 0) return "0";
        if (a < 1e-4 || a >= 1e6)
        {
            int k = (int)Math.Floor(Math.Log10(a) + 1e-9);
            double m = Math.Round(value / Math.Pow(10, k), 3);
            return m == 1 ? $"1e{k}" : string.Create(Inv, $"{m:0.###}e{k}");
        }
        int decimals = Math.Clamp(-(int)Math.Floor(Math.Log10(step) + 1e-9), 0, 8);
        return value.ToString("F" + decimals, Inv);
    }

    /// <summary>
    /// Majors at the densest of 1…9×10^k, {1, 2, 5}×10^k or every n-th power of ten whose neighbouring labels stay a
    /// readable distance apart on screen; minor ticks at the other 1…9×10^k. When the axis spans so little that fewer
    /// than two such values fall inside it, evenly spaced 1-2-5 steps of the data instead.
    /// </summary>
    private sealed class LogTicks : ITickGenerator
    {
        public Tick[] Ticks { get; set; } = [];

        public int MaxTickCount { get; set; } = 1000;

        public void Regenerate(CoordinateRange range, Edge edge, PixelLength size, Paint paint, LabelStyle labelStyle)
        {
            double lo = Math.Min(range.Min, range.Max), hi = Math.Max(range.Min, range.Max);
            if (!(hi > lo) || !double.IsFinite(lo) || !double.IsFinite(hi) || size.Length <= 0) { Ticks = []; return; }
            // Labels side by side (x) need more room than labels stacked above each other (y).
            double minSpacing = edge.IsHorizontal() ? 56 : 26;
            double pxPerDecade = size.Length / (hi - lo);
            int[] multipliers;
            int every = 1;
            if (pxPerDecade * Math.Log10(9.0 / 8) >= minSpacing) multipliers = [1, 2, 3, 4, 5, 6, 7, 8, 9];
            else if (pxPerDecade * Math.Log10(2) >= minSpacing) multipliers = [1, 2, 5];
            else
            {
                multipliers = [1];
                every = Math.Max(1, (int)Math.Ceiling(minSpacing / pxPerDecade));
            }

            var ticks = new List<Tick>();
            for (int k = (int)Math.Floor(lo) - 1; k <= (int)Math.Ceiling(hi); k++)
                for (int m = 1; m <= 9; m++)
                {
                    double position = k + Math.Log10(m);
                    if (position < lo - 1e-9 || position > hi + 1e-9) continue;
                    if (multipliers.Contains(m) && (multipliers.Length > 1 || k % every == 0))
                        ticks.Add(Tick.Major(position, FormatLog(m * Math.Pow(10, k), Math.Pow(10, k))));
                    else if (pxPerDecade >= 40)
                        ticks.Add(Tick.Minor(position));
                }
            Ticks = ticks.Count(t => t.IsMajor) >= 2 ? ticks.ToArray() : LinearInData(lo, hi, Math.Max(2, (int)(size.Length / minSpacing)));
        }

        // About `target` ticks at 1-2-5 steps between 10^lo and 10^hi, placed at their log10.
        private static Tick[] LinearInData(double lo, double hi, int target)
        {
            double min = Math.Pow(10, lo), max = Math.Pow(10, hi);
            double raw = (max - min) / Math.Max(1, target - 1);
            double p = Math.Pow(10, Math.Floor(Math.Log10(raw)));
            double f = raw / p;
            double step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
            var ticks = new List<Tick>();
            for (double v = Math.Ceiling(min / step - 1e-9) * step; v <= max * (1 + 1e-12); v += step)
                if (v > 0) ticks.Add(Tick.Major(Math.Log10(v), FormatLog(v, step)));
            return ticks.ToArray();
        }
    }
}
