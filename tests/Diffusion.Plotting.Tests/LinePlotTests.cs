using Diffusion.Core;
using Diffusion.Plotting;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Diffusion.Plotting.Tests;

public sealed class LinePlotTests
{
    private static (double[] X, double[] Y) Loss(int n, int seed = 0)
    {
        var rng = new Random(seed);
        var x = Enumerable.Range(0, n).Select(i => (double)i * 10).ToArray();
        var y = x.Select(s => 0.03 + 0.9 * Math.Exp(-s / 800) + 0.02 * rng.NextDouble()).ToArray();
        return (x, y);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WritesAChartOfTheRequestedSize(bool logY)
    {
        using var dir = new TempDir();
        var (x, y) = Loss(500);
        string path = dir.File("loss.png");
        LinePlot.SavePng(x, y, path, new LinePlotOptions { Title = "Training loss", LogY = logY, Smoothing = 0.95, Width = 640, Height = 400 });
        string keep = Environment.GetEnvironmentVariable("DIFFUSION_TEST_KEEP") ?? "";
        if (keep.Length > 0) File.Copy(path, Path.Combine(keep, logY ? "loss-log.png" : "loss.png"), overwrite: true);

        using var png = Image.Load<Rgb24>(path);
        Assert.Equal((640, 400), (png.Width, png.Height));
        int dark = 0, blue = 0;
        for (int yy = 0; yy < png.Height; yy++)
            for (int xx = 0; xx < png.Width; xx++)
            {
                var p = png[xx, yy];
                if (p.R < 80 && p.G < 80 && p.B < 80) dark++;
                if (p.B > 150 && p.R < 60) blue++;
            }
        Assert.True(dark > 1500, $"axes and text: {dark} dark pixels"); // frame + tick labels + title
        Assert.True(blue > 600, $"EMA line: {blue} blue pixels");
        // The text itself, outside the frame: the title above, the y tick labels and caption left, the x ones below.
        var (above, left, below) = ChartPixels.TextAround(png);
        Assert.True(above > 80 && left > 60 && below > 100, $"dark pixels of text: {above} above the frame, {left} left of it, {below} below it");
    }

    [Fact]
    public void GapsAndBadValuesAreTolerated()
    {
        var x = new double[] { 0, 1, 2, 3, 4 };
        var y = new double[] { 1, double.NaN, 0, 0.5, double.PositiveInfinity };
        using var linear = LinePlot.ToImage(x, y);
        using var log = LinePlot.ToImage(x, y, new LinePlotOptions { LogY = true });
        using var flat = LinePlot.ToImage(new double[] { 5 }, new double[] { 2 });
        Assert.Equal(800, flat.Width);
        Assert.Throws<DiffusionException>(() => LinePlot.ToImage(x, new double[] { double.NaN, 0, 0, 0, 0 }, new LinePlotOptions { LogY = true }));
        Assert.Throws<DiffusionException>(() => LinePlot.ToImage(x, new double[] { 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LinePlotOptions { Smoothing = 1 });
    }

    [Fact]
    public void EmaIsBiasCorrected()
    {
        var ema = LinePlot.Ema(new[] { 2.0, 2.0, double.NaN, 4.0 }, 0.5);
        Assert.Equal(2.0, ema[0], 12);
        Assert.Equal(2.0, ema[1], 12);
        Assert.Equal(2.0, ema[2], 12);
        Assert.Equal((0.5 * (0.5 * 1 + 0.5 * 2) + 0.5 * 4) / (1 - 0.125), ema[3], 12);
    }
}
