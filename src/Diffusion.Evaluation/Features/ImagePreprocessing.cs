using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Diffusion.Evaluation;

/// <summary>
/// The preprocessing shared by the pretrained feature extractors: one function for every image, real or generated,
/// so both sides of a metric see exactly the same resize and channel handling.
/// </summary>
internal static class ImagePreprocessing
{
    /// <summary>Checks that <paramref name="images"/> is a non-empty floating-point batch (N, 1 or 3, H, W).</summary>
    /// <exception cref="DiffusionException">It is not.</exception>
    public static void Check(Tensor images, string extractor)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.dim() != 4 || images.shape[0] == 0 || images.shape[1] is not (1 or 3) || images.shape[2] < 2 || images.shape[3] < 2)
            throw new DiffusionException($"The {extractor} extractor expects a non-empty batch of images (N, 1 or 3, H, W), got ({string.Join(", ", images.shape)}).");
        if (!images.is_floating_point())
            throw new DiffusionException($"The {extractor} extractor expects floating-point images in [-1, 1], got {images.dtype}; convert with x / 127.5 - 1.");
    }

    /// <summary>
    /// float32 RGB images of <paramref name="size"/> × <paramref name="size"/> in [−1, 1]: clamps (samplers may overshoot),
    /// repeats a grayscale channel three times, and resizes with bilinear interpolation (align_corners = false, no
    /// antialiasing: what pytorch-fid does).
    /// </summary>
    /// <param name="images">(N, 1 or 3, H, W), any floating dtype, nominally in [−1, 1]; checked with <see cref="Check"/>.</param>
    /// <param name="size">Output side length in pixels.</param>
    /// <returns>(N, 3, size, size), in the caller's dispose scope.</returns>
    public static Tensor ToRgb(Tensor images, int size)
    {
        using var scope = NewDisposeScope();
        var x = images.to(ScalarType.Float32, CPU).clamp(-1.0, 1.0);
        if (x.shape[1] == 1) x = x.expand(-1, 3, -1, -1);                                   // (N, 3, H, W)
        if (x.shape[2] != size || x.shape[3] != size)
            x = F.interpolate(x.contiguous(), new long[] { size, size }, mode: InterpolationMode.Bilinear, align_corners: false);
        return x.contiguous().MoveToOuterDisposeScope();                                      // (N, 3, size, size)
    }
}
