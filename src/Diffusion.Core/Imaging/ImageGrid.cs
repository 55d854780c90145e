using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using static TorchSharp.torch;

namespace Diffusion.Core.Imaging;

/// <summary>
/// Tiles a batch of images into one picture: rows filled left to right, <c>padding</c> black pixels
/// between and around the tiles, optional nearest-neighbour upscaling for small images.
/// </summary>
public static class ImageGrid
{
    /// <summary>Renders <paramref name="images"/> as a grid.</summary>
    /// <param name="images">(B, C, H, W) or (C, H, W) with C = 1 or 3; float values in [−1, 1] (clamped) or uint8 pixels.</param>
    /// <param name="columns">Tiles per row; 0 picks ceil(√B). More columns than images are reduced to B.</param>
    /// <param name="padding">Black pixels between tiles and around the border, ≥ 0.</param>
    /// <param name="scale">Integer upscaling factor (nearest neighbour), ≥ 1.</param>
    /// <returns>An RGB image of width cols·(W·scale + padding) + padding; the caller disposes it.</returns>
    /// <exception cref="DiffusionException">The tensor is not an image batch, or an argument is out of range.</exception>
    public static Image<Rgb24> ToImage(Tensor images, int columns = 0, int padding = 2, int scale = 1)
        => Render(ImagePixels.From(images), columns, padding, scale);

    /// <summary>Writes <paramref name="images"/> as a grid PNG (grayscale PNG when C = 1), replacing <paramref name="path"/> atomically.</summary>
    /// <param name="images">(B, C, H, W) or (C, H, W) with C = 1 or 3; float values in [−1, 1] (clamped) or uint8 pixels.</param>
    /// <param name="path">The PNG file; its directory is created if needed.</param>
    /// <param name="columns">Tiles per row; 0 picks ceil(√B).</param>
    /// <param name="padding">Black pixels between tiles and around the border, ≥ 0.</param>
    /// <param name="scale">Integer upscaling factor (nearest neighbour), ≥ 1.</param>
    /// <exception cref="DiffusionException">The tensor is not an image batch, or an argument is out of range.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static void SavePng(Tensor images, string path, int columns = 0, int padding = 2, int scale = 1)
    {
        var pixels = ImagePixels.From(images);
        using var image = Render(pixels, columns, padding, scale);
        SavePng(image, path, grayscale: pixels.Channels == 1);
    }

    /// <summary>Encodes <paramref name="image"/> as PNG into <paramref name="path"/> atomically.</summary>
    internal static void SavePng(Image image, string path, bool grayscale)
    {
        var encoder = new PngEncoder
        {
            ColorType = grayscale ? PngColorType.Grayscale : PngColorType.Rgb,
            BitDepth = PngBitDepth.Bit8,
        };
        AtomicFile.Write(path, tmp => image.Save(tmp, encoder));
    }

    internal static Image<Rgb24> Render(ImagePixels pixels, int columns, int padding, int scale)
    {
        if (columns < 0) throw new DiffusionException($"Grid columns must be ≥ 0 (0 = automatic), got {columns}.");
        if (padding < 0) throw new DiffusionException($"Grid padding must be ≥ 0, got {padding}.");
        if (scale < 1) throw new DiffusionException($"Grid scale must be ≥ 1, got {scale}.");
        int b = pixels.Count;
        int cols = columns == 0 ? (int)Math.Ceiling(Math.Sqrt(b)) : Math.Min(columns, b);
        cols = Math.Max(cols, 1);
        int rows = (b + cols - 1) / cols;
        int tileW = pixels.Width * scale, tileH = pixels.Height * scale;
        long width = (long)cols * (tileW + padding) + padding, height = (long)rows * (tileH + padding) + padding;
        if (width * height > 1L << 28)
            throw new DiffusionException($"A {width}x{height} grid is too large; use fewer images or a smaller scale.");

        var image = new Image<Rgb24>((int)width, (int)height, new Rgb24(0, 0, 0));
        image.ProcessPixelRows(rowsAccess =>
        {
            for (int i = 0; i < b; i++)
            {
                int left = padding + (i % cols) * (tileW + padding);
                int top = padding + (i / cols) * (tileH + padding);
                for (int y = 0; y < tileH; y++)
                {
                    var row = rowsAccess.GetRowSpan(top + y);
                    for (int x = 0; x < tileW; x++)
                    {
                        var p = pixels.Pixel(i, y / scale, x / scale);
                        row[left + x] = p.Length == 1 ? new Rgb24(p[0], p[0], p[0]) : new Rgb24(p[0], p[1], p[2]);
                    }
                }
            }
        });
        return image;
    }
}
