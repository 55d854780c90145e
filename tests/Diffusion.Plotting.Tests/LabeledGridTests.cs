using Diffusion.Core;
using Diffusion.Core.Imaging;
using Diffusion.Plotting;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using static TorchSharp.torch;

namespace Diffusion.Plotting.Tests;

/// <summary>The comparison sheet: tiles copied pixel for pixel, labels drawn in the margins, bad layouts refused.</summary>
public sealed class LabeledGridTests
{
    private static readonly Rgb24 Black = new(0, 0, 0);
    private static readonly Rgb24 White = new(255, 255, 255);

    private static int CountDark(Image<Rgb24> image, int x0, int y0, int x1, int y1)
    {
        int n = 0;
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++)
                if (image[x, y].R < 128) n++;
        return n;
    }

    [Fact]
    public void PlacesTheGridRightOfTheRowLabelsAndBelowTheColumnLabels()
    {
        // 2 rows x 3 columns of 4x4 tiles: tile (r, c) has the constant value (r*3 + c) / 5 mapped to [-1, 1].
        var values = arange(6, dtype: ScalarType.Float32).div(5).mul(2).sub(1).reshape(6, 1, 1, 1).expand(6, 1, 4, 4).contiguous();
        using var plain = ImageGrid.ToImage(values, columns: 3, padding: 2, scale: 2);
        using var labeled = LabeledGrid.ToImage(values, ["w=1", "w=3 rescale 0.7"], ["0", "1", "2"], scale: 2);

        int left = labeled.Width - plain.Width, top = labeled.Height - plain.Height;
        Assert.True(left > 6 * 14, $"the margin ({left} px) should hold the longest row label");
        Assert.True(top > 0);
        for (int y = 0; y < plain.Height; y++)
            for (int x = 0; x < plain.Width; x++)
                Assert.Equal(plain[x, y], labeled[left + x, top + y]);
        // The labels are ink on white: dark pixels in the left margin beside each row and above each column.
        int tile = 4 * 2 + 2;
        Assert.True(CountDark(labeled, 0, top + 2, left, top + 2 + tile) > 10);
        Assert.True(CountDark(labeled, 0, top + 2 + tile, left, top + 2 + 2 * tile) > 10);
        for (int c = 0; c < 3; c++)
            Assert.True(CountDark(labeled, left + 2 + c * tile, 0, left + 2 + (c + 1) * tile, top) > 3);
        Assert.Equal(White, labeled[0, 0]);
        Assert.Equal(Black, labeled[left, top]); // the grid's own padding
    }

    [Fact]
    public void WorksWithoutColumnLabels()
    {
        using var images = zeros(4, 3, 8, 8);
        using var plain = ImageGrid.ToImage(images, columns: 2, padding: 2, scale: 1);
        using var labeled = LabeledGrid.ToImage(images, ["a", "b"], null, scale: 1);
        Assert.Equal(plain.Height, labeled.Height);
        Assert.True(labeled.Width > plain.Width);
    }

    [Fact]
    public void RefusesLayoutsThatDoNotFit()
    {
        using var images = zeros(5, 1, 4, 4);
        Assert.Contains("5 images cannot be laid out in 2", Assert.Throws<DiffusionException>(() => LabeledGrid.ToImage(images, ["a", "b"])).Message);
        using var six = zeros(6, 1, 4, 4);
        Assert.Contains("3 columns but 2 column labels", Assert.Throws<DiffusionException>(() => LabeledGrid.ToImage(six, ["a", "b"], ["x", "y"])).Message);
        Assert.Throws<DiffusionException>(() => LabeledGrid.ToImage(six, []));
    }
}
