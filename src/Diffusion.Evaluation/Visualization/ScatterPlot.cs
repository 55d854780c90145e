using Diffusion.Core;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>
/// A labelled 2-D scatter plot (e.g. of a <see cref="Tsne"/> embedding) drawn pixel by pixel: one filled disc
/// per point, coloured by label, inside a frame, with a legend column of colour swatches in label order
/// (label 0 at the top). Labels beyond the palette reuse its colours.
/// </summary>
public static class ScatterPlot
{
    /// <summary>Ten distinguishable colours (the "tab10" palette), then black for an eleventh label (e.g. the null class of
    /// classifier-free guidance).</summary>
    public static IReadOnlyList<Rgb24> Palette { get; } =
    [
        new(31, 119, 180), new(255, 127, 14), new(44, 160, 44), new(214, 39, 40), new(148, 103, 189),
        new(140, 86, 75), new(227, 119, 194), new(127, 127, 127), new(188, 189, 34), new(23, 190, 207),
        new(0, 0, 0),
    ];

    private const int Margin = 12, LegendWidth = 28, Swatch = 12;

    /// <summary>Draws <paramref name="points"/> (N, 2) coloured by <paramref name="labels"/> (N, integers ≥ 0) on a
    /// <paramref name="size"/>-pixel square plot area (plus margins and legend).</summary>
    /// <param name="points">Point coordinates, any floating dtype.</param>
    /// <param name="labels">One label per point; null draws every point in the first colour.</param>
    /// <param name="size">Side of the plot area in pixels, at least 64. Default 512.</param>
    /// <param name="radius">Disc radius in pixels, 0 … 10. Default 2.</param>
    /// <param name="highlight">Optional mask (N, bool): points outside it are drawn first, in light grey, so several plots
    /// of subsets of one embedding share its axes and still show where the other points lie. Null draws all in colour.</param>
    /// <returns>A new image the caller disposes.</returns>
    /// <exception cref="DiffusionException">The shapes are wrong, a label is negative, or size/radius are out of range.</exception>
    public static Image<Rgb24> ToImage(Tensor points, Tensor? labels = null, int size = 512, int radius = 2, Tensor? highlight = null)
    {
        if (size < 64) throw new DiffusionException($"Scatter plot size must be at least 64 pixels (got {size}).");
        if (radius is < 0 or > 10) throw new DiffusionException($"Point radius must be in 0 … 10 pixels (got {radius}).");
        double[] xy;
        long n;
        using (var scope = NewDisposeScope())
        {
            var p = FeatureMatrix.AsFloat64(points, "Scatter points");
            if (p.shape[1] != 2) throw new DiffusionException($"A scatter plot needs (N, 2) points, got ({string.Join(", ", p.shape)}).");
            n = p.shape[0];
            xy = p.contiguous().data<double>().ToArray();
        }
        var classes = labels is null ? new long[n] : Labels.ToArray(labels, n, int.MaxValue);
        bool[] shown = new bool[n];
        if (highlight is null) Array.Fill(shown, true);
        else if (highlight.dim() != 1 || highlight.shape[0] != n)
            throw new DiffusionException($"The highlight mask needs one entry per point ({n}), got shape ({string.Join(", ", highlight.shape)}).");
        else shown = highlight.to(ScalarType.Bool, CPU).data<bool>().ToArray();
        int legendRows = (int)(classes.Length == 0 ? 1 : classes.Max() + 1);

        double minX = double.MaxValue, maxX = double.MinValue, minY = double.MaxValue, maxY = double.MinValue;
        for (long i = 0; i < n; i++)
        {
            minX = Math.Min(minX, xy[2 * i]); maxX = Math.Max(maxX, xy[2 * i]);
            minY = Math.Min(minY, xy[2 * i + 1]); maxY = Math.Max(maxY, xy[2 * i + 1]);
        }
        // Equal scale on both axes, so distances in the picture mean the same in every direction.
        double span = Math.Max(Math.Max(maxX - minX, maxY - minY), 1e-12);
        double cx = (minX + maxX) / 2, cy = (minY + maxY) / 2;
        int inner = size - 2 * (radius + 2);

        int width = Margin + size + Margin + LegendWidth;
        int height = Math.Max(Margin + size + Margin, Margin + legendRows * (Swatch + 4) + Margin);
        var image = new Image<Rgb24>(width, height, new Rgb24(255, 255, 255));
        var frame = new Rgb24(160, 160, 160);
        FillRect(image, Margin - 1, Margin - 1, Margin + size, Margin - 1, frame);
        FillRect(image, Margin - 1, Margin + size, Margin + size, Margin + size, frame);
        FillRect(image, Margin - 1, Margin - 1, Margin - 1, Margin + size, frame);
        FillRect(image, Margin + size, Margin - 1, Margin + size, Margin + size, frame);

        var grey = new Rgb24(222, 222, 222);
        foreach (bool front in new[] { false, true })
            for (long i = 0; i < n; i++)
            {
                if (shown[i] != front) continue;
                int px = Margin + size / 2 + (int)Math.Round((xy[2 * i] - cx) / span * inner);
                int py = Margin + size / 2 - (int)Math.Round((xy[2 * i + 1] - cy) / span * inner);   // y grows upwards
                Disc(image, px, py, radius, front ? Palette[(int)(classes[i] % Palette.Count)] : grey);
            }
        int lx = Margin + size + Margin;
        for (int c = 0; c < legendRows; c++)
            FillRect(image, lx, Margin + c * (Swatch + 4), lx + Swatch - 1, Margin + c * (Swatch + 4) + Swatch - 1, Palette[c % Palette.Count]);
        return image;
    }

    /// <summary>Draws the plot (see <see cref="ToImage"/>) and writes it to <paramref name="path"/> as PNG, creating the folder.</summary>
    /// <exception cref="DiffusionException">The inputs are invalid.</exception>
    public static void SavePng(Tensor points, Tensor? labels, string path, int size = 512, int radius = 2, Tensor? highlight = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var image = ToImage(points, labels, size, radius, highlight);
        AtomicFile.Write(path, temp => image.SaveAsPng(temp));
    }

    private static void Disc(Image<Rgb24> image, int x, int y, int r, Rgb24 color)
    {
        for (int dy = -r; dy <= r; dy++)
            for (int dx = -r; dx <= r; dx++)
                if (dx * dx + dy * dy <= r * r + r) Set(image, x + dx, y + dy, color);
    }

    private static void FillRect(Image<Rgb24> image, int x0, int y0, int x1, int y1, Rgb24 color)
    {
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++)
                Set(image, x, y, color);
    }

    private static void Set(Image<Rgb24> image, int x, int y, Rgb24 color)
    {
        if (x >= 0 && y >= 0 && x < image.Width && y < image.Height) image[x, y] = color;
    }
}
