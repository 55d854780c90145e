using Diffusion.Core;
using Diffusion.Core.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SkiaSharp;
using static TorchSharp.torch;

namespace Diffusion.Plotting;

/// <summary>
/// An image grid with a text label left of every row and, optionally, above every column: comparison sheets such as
/// "guidance scale × class" that a reader should not have to decode from a caption. The tiles are
/// <see cref="ImageGrid"/>'s, copied pixel for pixel; the labels are drawn by SkiaSharp (which ScottPlot brings, see
/// <see cref="LinePlot"/>) in the charts' embedded DejaVu Sans.
/// </summary>
public static class LabeledGrid
{
    /// <summary>Label text size in pixels.</summary>
    private const float TextSize = 16;

    /// <summary>Renders rows × columns images with their labels.</summary>
    /// <param name="images">(rows·columns, C, H, W), row-major, C = 1 or 3, values in [−1, 1] or uint8.</param>
    /// <param name="rowLabels">One label per row (its length sets the number of rows).</param>
    /// <param name="columnLabels">One label per column, or null for none; the number of columns is images / rows.</param>
    /// <param name="scale">Integer upscaling of the tiles (nearest neighbour), ≥ 1.</param>
    /// <returns>An RGB image the caller disposes.</returns>
    /// <exception cref="DiffusionException">The image count is not a multiple of the row count, or the column labels do not match.</exception>
    public static Image<Rgb24> ToImage(Tensor images, IReadOnlyList<string> rowLabels, IReadOnlyList<string>? columnLabels = null, int scale = 2)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(rowLabels);
        long count = images.dim() == 4 ? images.shape[0] : throw new DiffusionException($"Images must be (N, C, H, W), got shape ({string.Join(", ", images.shape)}).");
        if (rowLabels.Count == 0 || count % rowLabels.Count != 0)
            throw new DiffusionException($"{count} images cannot be laid out in {rowLabels.Count} labelled rows.");
        int columns = (int)(count / rowLabels.Count);
        if (columnLabels is not null && columnLabels.Count != columns)
            throw new DiffusionException($"{columns} columns but {columnLabels.Count} column labels.");

        const int padding = 2, gap = 6;
        using var grid = ImageGrid.ToImage(images, columns, padding, scale);
        int tileH = (int)images.shape[2] * scale + padding, tileW = (int)images.shape[3] * scale + padding;
        using var font = new SKFont(PlotFont.Typeface, TextSize);
        int left = (int)Math.Ceiling(rowLabels.Max(l => font.MeasureText(l))) + 2 * gap;
        int top = columnLabels is null ? 0 : (int)Math.Ceiling(font.Spacing) + gap;
        int width = left + grid.Width, height = top + grid.Height;

        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        using (var canvas = new SKCanvas(bitmap))
        using (var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true })
        {
            canvas.Clear(SKColors.White);
            float capHeight = font.Metrics.CapHeight, ascent = -font.Metrics.Ascent;
            for (int r = 0; r < rowLabels.Count; r++)   // vertically centred on the row's tiles
                canvas.DrawText(rowLabels[r], gap, top + padding + r * tileH + (tileH - padding + capHeight) / 2, SKTextAlign.Left, font, ink);
            if (columnLabels is not null)
                for (int c = 0; c < columns; c++)       // centred over the column's tiles
                    canvas.DrawText(columnLabels[c], left + padding + c * tileW + (tileW - padding) / 2f, gap / 2f + ascent, SKTextAlign.Center, font, ink);
        }
        // On an opaque white page premultiplied RGBA is plain RGBA.
        using var rgba = Image.LoadPixelData<Rgba32>(bitmap.GetPixelSpan(), width, height);
        var result = rgba.CloneAs<Rgb24>();
        result.ProcessPixelRows(grid, (target, source) =>
        {
            for (int y = 0; y < source.Height; y++)
                source.GetRowSpan(y).CopyTo(target.GetRowSpan(top + y).Slice(left));
        });
        return result;
    }

    /// <summary>Writes <see cref="ToImage"/> as a PNG, replacing <paramref name="path"/> atomically.</summary>
    /// <param name="images">(rows·columns, C, H, W), row-major.</param>
    /// <param name="rowLabels">One label per row.</param>
    /// <param name="columnLabels">One label per column, or null.</param>
    /// <param name="path">The PNG file; its directory is created if needed.</param>
    /// <param name="scale">Integer upscaling of the tiles, ≥ 1.</param>
    /// <exception cref="DiffusionException">See <see cref="ToImage"/>.</exception>
    public static void SavePng(Tensor images, IReadOnlyList<string> rowLabels, IReadOnlyList<string>? columnLabels, string path, int scale = 2)
    {
        using var image = ToImage(images, rowLabels, columnLabels, scale);
        PlotRendering.SavePng(image, path);
    }
}
