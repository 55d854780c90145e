using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Imaging;

/// <summary>
/// Images copied off a tensor as interleaved 8-bit pixels (B, H, W, C), the layout image encoders want.
/// </summary>
internal sealed class ImagePixels
{
    private ImagePixels(byte[] data, int count, int channels, int height, int width)
    {
        Data = data;
        Count = count;
        Channels = channels;
        Height = height;
        Width = width;
    }

    /// <summary>Pixels, (B, H, W, C) row-major.</summary>
    public byte[] Data { get; }

    /// <summary>B.</summary>
    public int Count { get; }

    /// <summary>C, 1 or 3.</summary>
    public int Channels { get; }

    /// <summary>H.</summary>
    public int Height { get; }

    /// <summary>W.</summary>
    public int Width { get; }

    /// <summary>The C values of pixel (x, y) of image <paramref name="index"/>.</summary>
    public ReadOnlySpan<byte> Pixel(int index, int y, int x)
        => Data.AsSpan(((index * Height + y) * Width + x) * Channels, Channels);

    /// <summary>Image <paramref name="index"/> alone.</summary>
    public ImagePixels Slice(int index)
    {
        int size = Height * Width * Channels;
        return new ImagePixels(Data.AsSpan(index * size, size).ToArray(), 1, Channels, Height, Width);
    }

    /// <summary>
    /// Converts (B, C, H, W) or (C, H, W) images: floating point values in [−1, 1] map to
    /// round((x + 1)·127.5) after clamping (NaN becomes mid-grey); uint8 tensors are taken as pixel values.
    /// </summary>
    /// <exception cref="DiffusionException">The shape or channel count is not an image batch, or the batch is empty.</exception>
    public static ImagePixels From(Tensor images, string what = "images")
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.dim() is not (3 or 4))
            throw new DiffusionException($"Expected {what} of shape (B, C, H, W) or (C, H, W), got ({string.Join(", ", images.shape)}).");
        using var scope = NewDisposeScope();
        var x = images.detach().cpu();
        if (x.dim() == 3) x = x.unsqueeze(0);                                   // (1, C, H, W)
        long c = x.shape[1];
        if (c is not (1 or 3))
            throw new DiffusionException($"Expected {what} with 1 (grayscale) or 3 (RGB) channels, got {c} (shape ({string.Join(", ", images.shape)})).");
        if (x.shape[0] < 1)
            throw new DiffusionException($"Expected at least one image in {what}, got an empty batch.");
        if (x.shape[2] < 1 || x.shape[3] < 1)
            throw new DiffusionException($"Expected {what} of at least 1x1 pixels, got shape ({string.Join(", ", images.shape)}).");
        if (x.dtype != ScalarType.Byte)
        {
            if (!is_floating_point(x))
                throw new DiffusionException($"Expected {what} as floating point in [-1, 1] or uint8, got {x.dtype}.");
            x = x.to(ScalarType.Float32).nan_to_num(0.0).clamp(-1.0, 1.0).add(1.0).mul(127.5).round().to(ScalarType.Byte);
        }
        var hwc = x.permute(0, 2, 3, 1).contiguous();                          // (B, H, W, C)
        return new ImagePixels(hwc.bytes.ToArray(), (int)x.shape[0], (int)c, (int)x.shape[2], (int)x.shape[3]);
    }
}
