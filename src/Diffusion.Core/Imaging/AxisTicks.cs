using System.Globalization;

namespace Diffusion.Core.Imaging;

/// <summary>Tick positions at "nice" values (1, 2, 5 × 10^k) and their labels, for linear and log axes.</summary>
internal static class AxisTicks
{
    /// <summary>About <paramref name="target"/> evenly spaced ticks inside [min, max], and their spacing.</summary>
    public static (double[] Ticks, double Step) Linear(double min, double max, int target = 6)
    {
        double step = NiceStep((max - min) / Math.Max(1, target - 1));
        double first = Math.Ceiling(min / step - 1e-9) * step;
        var ticks = new List<double>();
        for (double v = first; v <= max + step * 1e-9; v = first + ticks.Count * step)
            ticks.Add(Math.Abs(v) < step * 1e-9 ? 0 : v);
        return (ticks.ToArray(), step);
    }

    /// <summary>Ticks inside [min, max] (both &gt; 0) at powers of ten, adding 2× and 5× (or all of 1…9×) when the range spans few decades.</summary>
    public static double[] Log(double min, double max)
    {
        double decades = Math.Log10(max / min);
        int[] multipliers = decades > 3 ? new[] { 1 } : decades > 1 ? new[] { 1, 2, 5 } : new[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
        int every = Math.Max(1, (int)Math.Ceiling(decades / 8));
        var ticks = new List<double>();
        for (int k = (int)Math.Floor(Math.Log10(min)); k <= (int)Math.Ceiling(Math.Log10(max)); k++)
        {
            if (multipliers.Length == 1 && k % every != 0) continue;
            foreach (int m in multipliers)
            {
                double v = m * Math.Pow(10, k);
                if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) ticks.Add(v);
            }
        }
        return ticks.Count >= 2 ? ticks.ToArray() : Linear(min, max).Ticks.Where(v => v > 0).ToArray();
    }

    /// <summary>A short label for <paramref name="value"/> on an axis whose ticks are <paramref name="step"/> apart:
    /// "0.05", "120", "20k", "1.5M", "1e-4".</summary>
    public static string Format(double value, double step)
    {
        var inv = CultureInfo.InvariantCulture;
        double a = Math.Abs(value);
        if (a == 0) return "0";
        if (a < 1e-3 || a >= 1e9) return value.ToString("0.##e0", inv);
        if (a >= 1e6 && step >= 1e5) return (value / 1e6).ToString("F" + Decimals(step / 1e6), inv) + "M";
        if (a >= 1e4 && step >= 100) return (value / 1e3).ToString("F" + Decimals(step / 1e3), inv) + "k";
        return value.ToString("F" + Decimals(step), inv);
    }

    private static int Decimals(double step) => Math.Clamp(-(int)Math.Floor(Math.Log10(step) + 1e-9), 0, 6);

    private static double NiceStep(double raw)
    {
        if (!(raw > 0) || double.IsInfinity(raw)) return 1;
        double p = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double f = raw / p;
        return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
    }
}
