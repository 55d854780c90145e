using Diffusion.Core;
using Diffusion.Plotting;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using static TorchSharp.torch;

namespace Diffusion.Plotting.Tests;

/// <summary>The t-SNE scatter plot: points where their coordinates say, in their label's colour, the highlight mask, bad input.</summary>
public sealed class ScatterPlotTests
{
    [Fact]
    public void ScatterPlotColoursPointsByLabel()
    {
        using var scope = NewDisposeScope();
        var points = tensor(new double[,] { { -1, -1 }, { 1, 1 } });
        var labels = tensor(new long[] { 0, 3 });
        using var dir = new TempDir();
        var path = dir.File("scatter.png");
        ScatterPlot.SavePng(points, labels, path, size: 100, radius: 3);
        using var image = Image.Load<Rgb24>(path);

        Assert.True(image.Width > 100 && image.Height >= 100);
        // (−1, −1) lands bottom-left, (1, 1) top-right of the 100-pixel area that starts at 12 px.
        Assert.Equal(ScatterPlot.Palette[0], image[12 + 5, 12 + 95]);
        Assert.Equal(ScatterPlot.Palette[3], image[12 + 95, 12 + 5]);
        Assert.Equal(new Rgb24(255, 255, 255), image[12 + 50, 12 + 50]);
        Assert.Throws<DiffusionException>(() => ScatterPlot.ToImage(zeros(4, 3)));
        Assert.Throws<DiffusionException>(() => ScatterPlot.ToImage(zeros(2, 2), tensor(new long[] { 0, -1 })));
    }

    [Fact]
    public void ScatterPlotGreysPointsOutsideTheHighlightButKeepsTheirAxes()
    {
        using var scope = NewDisposeScope();
        var points = tensor(new double[,] { { -1, -1 }, { 1, 1 } });
        var labels = tensor(new long[] { 0, 3 });
        using var all = ScatterPlot.ToImage(points, labels, size: 100, radius: 3);
        using var second = ScatterPlot.ToImage(points, labels, size: 100, radius: 3, highlight: tensor(new[] { false, true }));

        Assert.Equal(ScatterPlot.Background, second[12 + 5, 12 + 95]);    // same place as without the mask, in grey
        Assert.Equal(ScatterPlot.Palette[3], second[12 + 95, 12 + 5]);
        Assert.Equal(all[12 + 95, 12 + 5], second[12 + 95, 12 + 5]);
        Assert.Throws<DiffusionException>(() => ScatterPlot.ToImage(points, labels, highlight: tensor(new[] { true })));
    }

    [Fact]
    public void TheLegendNamesEveryLabelRightOfThePlotArea()
    {
        using var scope = NewDisposeScope();
        var points = tensor(new double[,] { { -1, -1 }, { 1, 1 }, { 0, 1 } });
        using var image = ScatterPlot.ToImage(points, tensor(new long[] { 0, 3, 10 }), size: 200, radius: 3);
        int legendLeft = 12 + 200 + 12;
        Assert.True(image.Width > legendLeft);
        // One swatch per label 0 … 10 in the legend column, top to bottom (label 10 reuses the palette's 11th colour), with
        // its number written right of it in dark ink.
        // The swatches' column is where label 0's blue is; the others are looked for there (text is anti-aliased grey,
        // which can match label 7's grey exactly).
        var first = Box(image, legendLeft, image.Width, p => p.Equals(ScatterPlot.Palette[0]));
        Assert.NotNull(first);
        int previousTop = -1;
        var inks = new int[11];
        for (int c = 0; c <= 10; c++)
        {
            var swatch = Box(image, first.Value.Left, first.Value.Right + 1, p => p.Equals(ScatterPlot.Palette[c]));
            Assert.True(swatch is { Count: >= 20 }, $"swatch of label {c}: {swatch?.Count ?? 0} pixels");
            var (top, bottom, right) = (swatch!.Value.Top, swatch.Value.Bottom, swatch.Value.Right);
            Assert.True(top > previousTop, $"label {c} is listed below label {c - 1}");
            previousTop = top;
            inks[c] = Count(image, right + 2, top - 3, image.Width, bottom + 4, p => p is { R: < 128, G: < 128, B: < 128 });
        }
        // A digit has a few pixels of full ink even where anti-aliasing greys its edges ("1" has the fewest), "10" twice that.
        Assert.True(inks.Take(10).All(n => n >= 4) && inks[10] >= 8, $"dark pixels beside the swatches: {string.Join(", ", inks)}");
    }

    // The bounding box of the matching pixels in columns [x0, x1), and their count; null if none matches.
    private static (int Count, int Left, int Top, int Right, int Bottom)? Box(Image<Rgb24> image, int x0, int x1, Func<Rgb24, bool> match)
    {
        int count = 0, left = int.MaxValue, top = int.MaxValue, right = -1, bottom = -1;
        for (int y = 0; y < image.Height; y++)
            for (int x = x0; x < x1; x++)
                if (match(image[x, y]))
                {
                    count++;
                    (left, top, right, bottom) = (Math.Min(left, x), Math.Min(top, y), Math.Max(right, x), Math.Max(bottom, y));
                }
        return count == 0 ? null : (count, left, top, right, bottom);
    }

    private static int Count(Image<Rgb24> image, int x0, int y0, int x1, int y1, Func<Rgb24, bool> match)
    {
        int n = 0;
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++)
                if (match(image[x, y])) n++;
        return n;
    }
}
