using Diffusion.Core;
using Diffusion.Plotting;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Diffusion.Plotting.Tests;

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
        // The legend names the series: its text is the only dark ink inside the plot area, in its top-right third, and
        // it is gone from there when the legend moves to the bottom left.
        using var elsewhere = LinePlot.ToImage(series, new LinePlotOptions { Title = "FID vs NFE", XLabel = "NFE", YLabel = "FID", LogX = true, LogY = true, Width = 640, Height = 400, LegendCorner = PlotCorner.BottomLeft });
        int ink = InkInTopRightOfPlotArea(png), inkElsewhere = InkInTopRightOfPlotArea(elsewhere);
        Assert.True(ink > 150 && inkElsewhere < 10, $"legend text: {ink} dark pixels in the top right of the plot area, {inkElsewhere} with the legend elsewhere");
    }

    private static int InkInTopRightOfPlotArea(Image<Rgb24> image)
    {
        var (left, top, right, bottom) = ChartPixels.Frame(image);
        return ChartPixels.Ink(image, right - (right - left) / 3, top + 2, right - 1, top + (bottom - top) / 3);
    }

    [Fact]
    public void TheLegendGoesToTheRequestedCorner()
    {
        var series = new[] { new PlotSeries("accuracy of a sampler", [5, 10, 20], [0.5, 0.8, 0.9]), new PlotSeries("another sampler", [5, 10, 20], [0.6, 0.85, 0.92]) };
        // Inside the plot area the legend's text is the only dark ink: all of it must lie in the requested quarter.
        foreach (var corner in Enum.GetValues<PlotCorner>())
        {
            using var image = LinePlot.ToImage(series, new LinePlotOptions { LegendCorner = corner });
            var (left, top, right, bottom) = ChartPixels.Frame(image);
            int midX = (left + right) / 2, midY = (top + bottom) / 2;
            var quarters = new Dictionary<PlotCorner, int>
            {
                [PlotCorner.TopLeft] = ChartPixels.Ink(image, left + 2, top + 2, midX, midY),
                [PlotCorner.TopRight] = ChartPixels.Ink(image, midX, top + 2, right - 1, midY),
                [PlotCorner.BottomLeft] = ChartPixels.Ink(image, left + 2, midY, midX, bottom - 1),
                [PlotCorner.BottomRight] = ChartPixels.Ink(image, midX, midY, right - 1, bottom - 1),
            };
            string counts = string.Join(", ", quarters.Select(q => $"{q.Key} {q.Value}"));
            Assert.True(quarters[corner] > 150 && quarters.Where(q => q.Key != corner).All(q => q.Value == 0), $"legend at {corner}: dark pixels per quarter: {counts}");
        }
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

    // The largest difference, over the columns where both images show the line, of its mean row. Lines are anti-aliased:
    // a pixel's weight is its coverage by the red line, read off the green channel (255 on white paper, 0 on full red).
    private static double MaxRowShift(Image<Rgb24> a, Image<Rgb24> b, Rgb24 color)
    {
        double worst = 0;
        int columns = 0;
        for (int x = 0; x < a.Width; x++)
        {
            double? rowA = MeanRow(a, x, color), rowB = MeanRow(b, x, color);
            if (rowA is double ra && rowB is double rb) { worst = Math.Max(worst, Math.Abs(ra - rb)); columns++; }
        }
        Assert.True(columns > a.Width / 2, $"the line shows in only {columns} columns of both images");
        return worst;
    }

    private static double? MeanRow(Image<Rgb24> image, int x, Rgb24 color)
    {
        double sum = 0, weight = 0;
        for (int y = 0; y < image.Height; y++)
        {
            var p = image[x, y];
            // Reddish only: R stays high while G and B fall together (grey ink and grid lines lower all three).
            if (p.R < 200 || Math.Abs(p.G - p.B) > 8 || p.R - p.G < 40) continue;
            double w = (255.0 - p.G) / (255.0 - color.G);
            sum += w * y;
            weight += w;
        }
        return weight > 0.5 ? sum / weight : null;
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
