using Diffusion.Core;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using static TorchSharp.torch;

namespace Diffusion.Core.Imaging;

/// <summary>
/// An image grid with a text label left of every row and, optionally, above every column: comparison sheets such as
/// "guidance scale × class" that a reader should not have to decode from a caption.
/// </summary>
public static class LabeledGrid
{
    private static readonly Rgb24 Background = new(255, 255, 255);
    private static readonly Rgb24 Ink = new(0, 0, 0);

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

        const int padding = 2, textScale = 2, gap = 6;
        using var grid = ImageGrid.ToImage(images, columns, padding, scale);
        int tile = (int)images.shape[2] * scale + padding;
        int left = rowLabels.Max(l => BitmapFont.Measure(l, textScale)) + 2 * gap;
        int top = columnLabels is null ? 0 : BitmapFont.CellHeight * textScale + gap;
        var canvas = new Canvas(left + grid.Width, top + grid.Height, Background);
        for (int r = 0; r < rowLabels.Count; r++)
            canvas.Text(gap, top + padding + r * tile + (tile - padding - BitmapFont.GlyphHeight * textScale) / 2, rowLabels[r], Ink, textScale);
        if (columnLabels is not null)
            for (int c = 0; c < columns; c++)
            {
                int width = BitmapFont.Measure(columnLabels[c], textScale);
                canvas.Text(left + padding + c * tile + (tile - padding - width) / 2, gap / 2, columnLabels[c], Ink, textScale);
            }
        var result = canvas.ToImage();
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
        ImageGrid.SavePng(image, path, grayscale: false);
    }
}
