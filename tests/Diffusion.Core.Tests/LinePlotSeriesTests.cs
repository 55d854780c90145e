using Diffusion.Core.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Diffusion.Core.Tests;

/// <summary>The multi-series chart (one line per sampler, legend) and the log x axis.</summary>
public sealed class LinePlotSeriesTests
{
    private static readonly Rgb24 Red = new(230, 0, 0);
    private static readonly Rgb24 Green = new(0, 170, 0);

    private static int Count(Image<Rgb24> image, Rgb24 color)
    {
        int n = 0;
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < image.Width; x++)
                if (image[x, y].Equals(color)) n++;
        return n;
    }

    [Fact]
    public void DrawsEverySeriesInItsColourWithMarkersAndALegend()
    {
        using var dir = new TempDir();
        double[] nfe = [5, 10, 20, 50, 100, 1000];
        var series = new[]
        {
            new PlotSeries("ddim", nfe, [80, 40, 20, 9, 6, 4]) { Color = Red },
            new PlotSeries("dpmpp_2m", nfe, [30, 10, 6, 5, 4.5, 4.2]) { Color = Green },
            new PlotSeries("floor", [5, 1000], [2, 2]) { Markers = false, Thickness = 1 },
        };
        string path = dir.File("fid.png");
        LinePlot.SavePng(series, path, new LinePlotOptions { Title = "FID vs NFE", XLabel = "NFE", YLabel = "FID", LogX = true, LogY = true, Width = 640, Height = 400 });
        string keep = Environment.GetEnvironmentVariable("DIFFUSION_TEST_KEEP") ?? "";
        if (keep.Length > 0) File.Copy(path, Path.Combine(keep, "fid-vs-nfe.png"), overwrite: true);

        using var png = Image.Load<Rgb24>(path);
        Assert.Equal((640, 400), (png.Width, png.Height));
        using var noMarkers = LinePlot.ToImage(series.Select(s => s with { Markers = false }).ToArray(),
            new LinePlotOptions { Title = "FID vs NFE", XLabel = "NFE", YLabel = "FID", LogX = true, LogY = true, Width = 640, Height = 400 });
        int red = Count(png, Red), green = Count(png, Green);
        Assert.True(red > 300 && green > 300, $"series pixels: red {red}, green {green}");
        // Six 5×5 markers (partly covered by the line anyway) and one in the legend.
        Assert.True(red - Count(noMarkers, Red) > 6 * 4, $"markers add {red - Count(noMarkers, Red)} red pixels");
        // The legend names the series: its text is dark ink in the top-right quarter.
        int ink = 0;
        for (int y = 0; y < png.Height / 3; y++)
            for (int x = png.Width * 2 / 3; x < png.Width; x++)
                if (png[x, y] is { R: < 80, G: < 80, B: < 80 }) ink++;
        Assert.True(ink > 150, $"legend text: {ink} dark pixels");
    }

    [Fact]
    public void TheLegendGoesToTheRequestedCorner()
    {
        var series = new[] { new PlotSeries("accuracy of a sampler", [5, 10, 20], [0.5, 0.8, 0.9]), new PlotSeries("another sampler", [5, 10, 20], [0.6, 0.85, 0.92]) };
        int InkInBottomLeftQuarter(PlotCorner corner)
        {
            using var image = LinePlot.ToImage(series, new LinePlotOptions { LegendCorner = corner });
            int ink = 0;
            for (int y = image.Height / 2; y < image.Height; y++)
                for (int x = 0; x < image.Width / 2; x++)
                    if (image[x, y] is { R: < 80, G: < 80, B: < 80 }) ink++;
            return ink;
        }
        int topRight = InkInBottomLeftQuarter(PlotCorner.TopRight), bottomLeft = InkInBottomLeftQuarter(PlotCorner.BottomLeft);
        Assert.True(bottomLeft > topRight + 150, $"dark pixels in the bottom-left quarter: {bottomLeft} with the legend there, {topRight} without");
    }

    [Fact]
    public void LogXAxisSpacesDecadesEvenly()
    {
        // On a log x axis (1, 0), (10, 1), (100, 2) are collinear: the line through all three runs where the line
        // from the first to the last does, to a pixel of rounding. On a linear axis (10, 1) lies far above it.
        var options = new LinePlotOptions { LogX = true, Smoothing = 0 };
        static PlotSeries Line(double[] x, double[] y) => new("a", x, y) { Color = Red, Markers = false, Thickness = 1 };
        using var three = LinePlot.ToImage([Line([1, 10, 100], [0, 1, 2])], options);
        using var two = LinePlot.ToImage([Line([1, 100], [0, 2])], options);
        double logShift = MaxRowShift(three, two, Red);
        Assert.True(logShift <= 1.0, $"log x: the lines are up to {logShift} pixels apart");

        var linear = options with { LogX = false };
        using var threeLinear = LinePlot.ToImage([Line([1, 10, 100], [0, 1, 2])], linear);
        using var twoLinear = LinePlot.ToImage([Line([1, 100], [0, 2])], linear);
        double linearShift = MaxRowShift(threeLinear, twoLinear, Red);
        Assert.True(linearShift > 100, $"linear x: the lines are only {linearShift} pixels apart");
    }

    // The largest difference, over the columns where both images have pixels of the colour, of their mean row.
    private static double MaxRowShift(Image<Rgb24> a, Image<Rgb24> b, Rgb24 color)
    {
        double worst = 0;
        for (int x = 0; x < a.Width; x++)
        {
            var rowsA = Enumerable.Range(0, a.Height).Where(y => a[x, y].Equals(color)).ToArray();
            var rowsB = Enumerable.Range(0, b.Height).Where(y => b[x, y].Equals(color)).ToArray();
            if (rowsA.Length > 0 && rowsB.Length > 0) worst = Math.Max(worst, Math.Abs(rowsA.Average() - rowsB.Average()));
        }
        return worst;
    }

    [Fact]
    public void TheSingleSeriesApiTakesALogXAxisAndDropsNonPositiveX()
    {
        var x = Enumerable.Range(0, 200).Select(i => (double)i).ToArray();   // x = 0 cannot be drawn on a log axis
        var y = x.Select(v => 1 / (1 + v)).ToArray();
        using var image = LinePlot.ToImage(x, y, new LinePlotOptions { LogX = true, LogY = true });
        Assert.Equal(800, image.Width);
        Assert.Throws<DiffusionException>(() => LinePlot.ToImage([0.0, -1], [1.0, 2], new LinePlotOptions { LogX = true }));
    }

    [Fact]
    public void BadSeriesThrowClearErrors()
    {
        Assert.Contains("at least one series", Assert.Throws<DiffusionException>(() => LinePlot.ToImage(Array.Empty<PlotSeries>())).Message);
        Assert.Contains("'b'", Assert.Throws<DiffusionException>(() => LinePlot.ToImage([new PlotSeries("b", [1, 2], [1])])).Message);
        Assert.Contains("Nothing to plot", Assert.Throws<DiffusionException>(() =>
            LinePlot.ToImage([new PlotSeries("c", [0, -1], [1, 2]), new PlotSeries("d", [1, 2], [double.NaN, double.NaN])], new LinePlotOptions { LogX = true })).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new PlotSeries("e", [1], [1]) { Thickness = 0 });
        // A series with no drawable point is allowed next to one that has some (it still gets its legend entry).
        using var partial = LinePlot.ToImage([new PlotSeries("f", [1, 2], [double.NaN, double.NaN]), new PlotSeries("g", [1, 2], [3, 4])]);
        Assert.Equal(480, partial.Height);
    }
}
