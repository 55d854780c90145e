using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Diffusion.Plotting.Tests;

/// <summary>Reading a rendered chart: where its plot-area frame is, and how much dark ink (text) lies outside it.</summary>
internal static class ChartPixels
{
    public static bool IsDark(Rgb24 p) => p is { R: < 100, G: < 100, B: < 100 };

    /// <summary>The frame of the plot area: the outermost rows and columns more than half of whose pixels are dark ink.</summary>
    public static (int Left, int Top, int Right, int Bottom) Frame(Image<Rgb24> image)
    {
        var rows = Enumerable.Range(0, image.Height).Where(y => Enumerable.Range(0, image.Width).Count(x => IsDark(image[x, y])) > image.Width / 2).ToArray();
        var columns = Enumerable.Range(0, image.Width).Where(x => Enumerable.Range(0, image.Height).Count(y => IsDark(image[x, y])) > image.Height / 2).ToArray();
        Assert.True(rows.Length >= 2 && columns.Length >= 2, $"no plot frame found ({rows.Length} rows, {columns.Length} columns of ink)");
        return (columns.Min(), rows.Min(), columns.Max(), rows.Max());
    }

    /// <summary>Dark pixels in [x0, x1) × [y0, y1), clamped to the image.</summary>
    public static int Ink(Image<Rgb24> image, int x0, int y0, int x1, int y1)
    {
        int n = 0;
        for (int y = Math.Max(0, y0); y < Math.Min(image.Height, y1); y++)
            for (int x = Math.Max(0, x0); x < Math.Min(image.Width, x1); x++)
                if (IsDark(image[x, y])) n++;
        return n;
    }

    /// <summary>Dark pixels above, left of and below the frame, leaving out the tick marks (up to <paramref name="ticks"/> pixels
    /// outside it): the title, the y tick labels with the y caption, the x tick labels with the x caption.</summary>
    public static (int Above, int Left, int Below) TextAround(Image<Rgb24> image, int ticks = 8)
    {
        var (left, top, right, bottom) = Frame(image);
        return (Ink(image, 0, 0, image.Width, top - ticks), Ink(image, 0, top, left - ticks, bottom), Ink(image, 0, bottom + ticks, image.Width, image.Height));
    }
}
