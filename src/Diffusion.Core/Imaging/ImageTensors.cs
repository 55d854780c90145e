using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using static TorchSharp.torch;

namespace Diffusion.Core.Imaging;

/// <summary>Images in, tensors out: the inverse of <see cref="ImageGrid"/> for one picture.</summary>
public static class ImageTensors
{
    /// <summary>Converts <paramref name="image"/> to a float32 tensor (1, <paramref name="channels"/>, H, W) in [−1, 1]:
    /// grayscale by ImageSharp's luminance for 1 channel, RGB for 3 (alpha dropped).</summary>
    /// <exception cref="DiffusionException"><paramref name="channels"/> is not 1 or 3.</exception>
    public static Tensor FromImage(Image image, int channels)
    {
        ArgumentNullException.ThrowIfNull(image);
        int w = image.Width, h = image.Height;
        var chw = new float[channels * h * w];
        switch (channels)
        {
            case 1:
                using (var gray = image.CloneAs<L8>())
                    gray.ProcessPixelRows(rows =>
                    {
                        for (int y = 0; y < h; y++)
                        {
                            var row = rows.GetRowSpan(y);
                            for (int x = 0; x < w; x++) chw[y * w + x] = row[x].PackedValue / 127.5f - 1;
                        }
                    });
                break;
            case 3:
                using (var rgb = image.CloneAs<Rgb24>())
                    rgb.ProcessPixelRows(rows =>
                    {
                        for (int y = 0; y < h; y++)
                        {
                            var row = rows.GetRowSpan(y);
                            for (int x = 0; x < w; x++)
                            {
                                chw[y * w + x] = row[x].R / 127.5f - 1;
                                chw[h * w + y * w + x] = row[x].G / 127.5f - 1;
                                chw[2 * h * w + y * w + x] = row[x].B / 127.5f - 1;
                            }
                        }
                    });
                break;
            default:
                throw new DiffusionException($"Images convert to 1 (grayscale) or 3 (RGB) channels, not {channels}.");
        }
        return tensor(chw, new long[] { 1, channels, h, w });
    }

    /// <summary>Reads an image file (PNG, JPEG, BMP, GIF, WebP, TGA, TIFF).</summary>
    /// <exception cref="DiffusionException">The file is missing or not a decodable image.</exception>
    public static Image Load(string path)
    {
        if (!File.Exists(path)) throw new DiffusionException($"Image file '{path}' does not exist.");
        try { return Image.Load(path); }
        catch (Exception e) when (e is UnknownImageFormatException or InvalidImageContentException or NotSupportedException)
        {
            throw new DiffusionException($"'{path}' is not an image this SDK can read (PNG, JPEG, BMP, GIF, WebP, TGA, TIFF): {e.Message.Split('\n')[0].Trim().TrimEnd('.', ':')}.", e);
        }
    }
}
