using System.Globalization;
using Diffusion.Core;
using ScottPlot;
using ScottPlot.TickGenerators;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Plotting;

/// <summary>
/// A labelled 2-D scatter plot (e.g. of a t-SNE embedding, Diffusion.Evaluation's <c>Tsne</c>), drawn with ScottPlot
/// (see <see cref="LinePlot"/> for why): one filled disc per point, coloured by label, inside a frame on a square plot
/// area with equal scales on both axes, and a legend of the labels right of it (label 0 at the top). Labels beyond the
/// palette reuse its colours. The axes carry no ticks: t-SNE coordinates have no unit.
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

    /// <summary>The colour of points outside the highlight mask.</summary>
    internal static readonly Rgb24 Background = new(222, 222, 222);

    /// <summary>Pixels between the image border and the plot area.</summary>
    internal const int Margin = 12;

    /// <summary>Draws <paramref name="points"/> (N, 2) coloured by <paramref name="labels"/> (N, integers ≥ 0) on a
    /// <paramref name="size"/>-pixel square plot area whose top-left corner is 12 pixels from the image's, with the legend right of it.</summary>
    /// <param name="points">Point coordinates, any floating dtype, all finite.</param>
    /// <param name="labels">One label per point; null draws every point in the first colour.</param>
    /// <param name="size">Side of the plot area in pixels, at least 64. Default 512.</param>
    /// <param name="radius">Disc radius in pixels, 0 … 10. Default 2.</param>
    /// <param name="highlight">Optional mask (N, bool): points outside it are drawn first, in light grey, so several plots
    /// of subsets of one embedding share its axes and still show where the other points lie. Null draws all in colour.</param>
    /// <returns>A new image the caller disposes.</returns>
    /// <exception cref="DiffusionException">The shapes are wrong, a value is not finite, a label is negative, or size/radius are out of range.</exception>
    public static Image<Rgb24> ToImage(Tensor points, Tensor? labels = null, int size = 512, int radius = 2, Tensor? highlight = null)
    {
        ArgumentNullException.ThrowIfNull(points);
        if (size < 64) throw new DiffusionException($"Scatter plot size must be at least 64 pixels (got {size}).");
        if (radius is < 0 or > 10) throw new DiffusionException($"Point radius must be in 0 … 10 pixels (got {radius}).");
        var xy = Coordinates(points);
        int n = xy.Length / 2;
        var classes = labels is null ? new long[n] : Labels(labels, n);
        bool[] shown = new bool[n];
        if (highlight is null) Array.Fill(shown, true);
        else if (highlight.dim() != 1 || highlight.shape[0] != n)
            throw new DiffusionException($"The highlight mask needs one entry per point ({n}), got shape ({string.Join(", ", highlight.shape)}).");
        else
        {
            using var scope = NewDisposeScope();
            shown = highlight.to(ScalarType.Bool, CPU).data<bool>().ToArray();
        }
        int legendRows = (int)(classes.Length == 0 ? 1 : classes.Max() + 1);

        double minX = double.MaxValue, maxX = double.MinValue, minY = double.MaxValue, maxY = double.MinValue;
        for (int i = 0; i < n; i++)
        {
            minX = Math.Min(minX, xy[2 * i]); maxX = Math.Max(maxX, xy[2 * i]);
            minY = Math.Min(minY, xy[2 * i + 1]); maxY = Math.Max(maxY, xy[2 * i + 1]);
        }
        // Equal scale on both axes, so distances in the picture mean the same in every direction; the outermost points'
        // centres stay radius + 2 pixels inside the frame.
        double span = Math.Max(Math.Max(maxX - minX, maxY - minY), 1e-12);
        double half = span / 2 * size / (size - 2 * (radius + 2));
        double cx = (minX + maxX) / 2, cy = (minY + maxY) / 2;

        using var plot = PlotRendering.NewPlot();
        float markerSize = 2 * radius + 1;
        void Add(IEnumerable<int> which, Rgb24 color)
        {
            var idx = which.ToArray();
            if (idx.Length == 0) return;
            var s = plot.Add.ScatterPoints(idx.Select(i => xy[2 * i]).ToArray(), idx.Select(i => xy[2 * i + 1]).ToArray(), PlotRendering.ToColor(color));
            s.MarkerShape = MarkerShape.FilledCircle;
            s.MarkerSize = markerSize;
        }
        Add(Enumerable.Range(0, n).Where(i => !shown[i]), Background);
        foreach (var group in Enumerable.Range(0, n).Where(i => shown[i]).GroupBy(i => classes[i]).OrderBy(g => g.Key))
            Add(group, Palette[(int)(group.Key % Palette.Count)]);
        plot.Legend.ManualItems.AddRange(Enumerable.Range(0, legendRows).Select(c => new LegendItem
        {
            LabelText = c.ToString(CultureInfo.InvariantCulture),
            MarkerShape = MarkerShape.FilledSquare,
            MarkerSize = 10,
            MarkerFillColor = PlotRendering.ToColor(Palette[c % Palette.Count]),
            MarkerLineColor = PlotRendering.ToColor(Palette[c % Palette.Count]),
            LineWidth = 0,
        }));
        plot.Legend.OutlineColor = Colors.Transparent;
        plot.Legend.ShadowColor = Colors.Transparent;
        plot.HideGrid();
        plot.Axes.Bottom.TickGenerator = new EmptyTickGenerator();
        plot.Axes.Left.TickGenerator = new EmptyTickGenerator();
        plot.Axes.FrameColor(PlotRendering.ToColor(new Rgb24(160, 160, 160)));
        plot.Axes.SetLimits(cx - half, cx + half, cy - half, cy + half);

        // ScottPlot's legends sit inside the plot area (or centred in a side panel of a size it picks), so the legend is
        // rendered on its own and pasted right of the fixed square plot area, top-aligned.
        using var legend = PlotRendering.ToImage(plot.GetLegendImage());
        plot.Legend.IsVisible = false;
        int width = Margin + size + Margin + legend.Width;
        int height = Math.Max(Margin + size + Margin, Margin + legend.Height + Margin);
        plot.Layout.Fixed(new PixelPadding(Margin, width - Margin - size, height - Margin - size, Margin));
        var image = PlotRendering.ToImage(plot, width, height);
        image.ProcessPixelRows(legend, (target, source) =>
        {
            for (int y = 0; y < source.Height; y++)
                source.GetRowSpan(y).CopyTo(target.GetRowSpan(Margin + y).Slice(Margin + size + Margin));
        });
        return image;
    }

    /// <summary>Draws the plot (see <see cref="ToImage"/>) and writes it to <paramref name="path"/> as PNG, replacing it atomically and creating the folder.</summary>
    /// <param name="points">Point coordinates (N, 2).</param>
    /// <param name="labels">One label per point, or null.</param>
    /// <param name="path">The PNG file.</param>
    /// <param name="size">Side of the plot area in pixels, at least 64.</param>
    /// <param name="radius">Disc radius in pixels, 0 … 10.</param>
    /// <param name="highlight">Optional mask of the points drawn in colour.</param>
    /// <exception cref="DiffusionException">The inputs are invalid.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static void SavePng(Tensor points, Tensor? labels, string path, int size = 512, int radius = 2, Tensor? highlight = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var image = ToImage(points, labels, size, radius, highlight);
        PlotRendering.SavePng(image, path);
    }

    private static double[] Coordinates(Tensor points)
    {
        if (points.dim() != 2 || points.shape[1] != 2 || points.shape[0] < 1)
            throw new DiffusionException($"A scatter plot needs (N ≥ 1, 2) points, got ({string.Join(", ", points.shape)}).");
        if (!points.is_floating_point())
            throw new DiffusionException($"Scatter points must be floating point, got {points.dtype}.");
        using var scope = NewDisposeScope();
        var p = points.to(ScalarType.Float64).cpu().contiguous();
        if (!isfinite(p).all().item<bool>())
            throw new DiffusionException("Scatter points contain NaN or infinite values; check the embedding.");
        return p.data<double>().ToArray();
    }

    private static long[] Labels(Tensor labels, int count)
    {
        if (labels.dim() != 1 || labels.shape[0] != count)
            throw new DiffusionException($"Expected one label per point ({count}), got a label tensor of shape ({string.Join(", ", labels.shape)}).");
        if (labels.is_floating_point() || labels.dtype == ScalarType.Bool)
            throw new DiffusionException($"Scatter labels must be an integer tensor (int64), got {labels.dtype}.");
        using var scope = NewDisposeScope();
        var values = labels.to(ScalarType.Int64).cpu().data<long>().ToArray();
        foreach (long v in values)
            if (v < 0) throw new DiffusionException($"Scatter labels must be ≥ 0, got {v}.");
        return values;
    }
}
