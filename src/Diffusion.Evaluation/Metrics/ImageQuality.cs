using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>
/// Full-reference image quality of reconstructions against their originals: PSNR and SSIM, one value per image pair,
/// computed in float64. Images are (B, C, H, W) of the same shape; <c>dataRange</c> is the span of valid pixel values
/// (2 for the SDK's [−1, 1] images, 1 for [0, 1], 255 for bytes).
/// </summary>
public static class ImageQuality
{
    /// <summary>The SDK's pixel range, [−1, 1]: a data range of 2.</summary>
    public const double SignedUnitRange = 2.0;

    /// <summary>Side of SSIM's Gaussian window (Wang et al. 2004, Sec. III-C).</summary>
    public const int SsimWindow = 11;

    /// <summary>Standard deviation of SSIM's Gaussian window, in pixels.</summary>
    public const double SsimSigma = 1.5;

    /// <summary>Peak signal-to-noise ratio in dB per image: 10·log10(L² / MSE), over all channels and pixels;
    /// +∞ for identical images.</summary>
    /// <param name="reference">The originals (B, C, H, W).</param>
    /// <param name="images">The reconstructions, the same shape.</param>
    /// <param name="dataRange">L, the span of valid values (2 for [−1, 1]).</param>
    /// <exception cref="DiffusionException">The shapes differ or are not 4-D, or the range is not positive.</exception>
    public static double[] Psnr(Tensor reference, Tensor images, double dataRange = SignedUnitRange)
    {
        Check(reference, images, dataRange, minSide: 1);
        using var scope = NewDisposeScope();
        var mse = (reference.to(ScalarType.Float64) - images.to(ScalarType.Float64)).square().mean([1, 2, 3]).cpu(); // (B)
        return mse.data<double>().ToArray().Select(m => m == 0 ? double.PositiveInfinity : 10 * Math.Log10(dataRange * dataRange / m)).ToArray();
    }

    /// <summary>
    /// Structural similarity per image (Wang et al. 2004, Eq. 13): local means, variances and covariance under an 11×11
    /// Gaussian window of σ = 1.5 (weights summing to 1; only windows that lie inside the image, as in the paper's code),
    /// SSIM = ((2μxμy + C1)(2σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2)) with C1 = (0.01·L)², C2 = (0.03·L)², averaged
    /// over the window positions and then over channels. 1 for identical images.
    /// </summary>
    /// <param name="reference">The originals (B, C, H, W), both sides at least 11.</param>
    /// <param name="images">The reconstructions, the same shape.</param>
    /// <param name="dataRange">L, the span of valid values (2 for [−1, 1]).</param>
    /// <exception cref="DiffusionException">The shapes differ, are not 4-D or are smaller than the window, or the range is not positive.</exception>
    public static double[] Ssim(Tensor reference, Tensor images, double dataRange = SignedUnitRange)
    {
        Check(reference, images, dataRange, minSide: SsimWindow);
        using var scope = NewDisposeScope();
        long b = reference.shape[0], c = reference.shape[1], h = reference.shape[2], w = reference.shape[3];
        var x = reference.to(ScalarType.Float64).cpu().reshape(b * c, 1, h, w); // (B·C, 1, H, W): channels filtered alike
        var y = images.to(ScalarType.Float64).cpu().reshape(b * c, 1, h, w);
        var window = GaussianWindow(SsimWindow, SsimSigma); // (1, 1, 11, 11)
        Tensor Filter(Tensor t) => nn.functional.conv2d(t, window); // (B·C, 1, H − 10, W − 10): valid windows only
        var muX = Filter(x);
        var muY = Filter(y);
        var varX = Filter(x * x) - muX * muX;
        var varY = Filter(y * y) - muY * muY;
        var covXY = Filter(x * y) - muX * muY;
        double c1 = Math.Pow(0.01 * dataRange, 2), c2 = Math.Pow(0.03 * dataRange, 2);
        var map = (2 * muX * muY + c1) * (2 * covXY + c2) / ((muX * muX + muY * muY + c1) * (varX + varY + c2));
        var perImage = map.reshape(b, c, -1).mean([2]).mean([1]); // (B)
        return perImage.data<double>().ToArray();
    }

    /// <summary>The normalised 2-D Gaussian window (1, 1, size, size), float64: w(i, j) ∝ exp(−((i − m)² + (j − m)²) / 2σ²).</summary>
    internal static Tensor GaussianWindow(int size, double sigma)
    {
        using var scope = NewDisposeScope();
        var r = arange(size, dtype: ScalarType.Float64) - (size - 1) / 2.0;
        var g = (-(r * r) / (2 * sigma * sigma)).exp();
        g = g / g.sum();
        return g.outer(g).reshape(1, 1, size, size).MoveToOuterDisposeScope();
    }

    private static void Check(Tensor reference, Tensor images, double dataRange, int minSide)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(images);
        if (reference.dim() != 4 || !reference.shape.SequenceEqual(images.shape))
            throw new DiffusionException($"Image quality compares two batches of shape (B, C, H, W) alike, got ({string.Join(", ", reference.shape)}) and ({string.Join(", ", images.shape)}).");
        if (reference.shape[2] < minSide || reference.shape[3] < minSide)
            throw new DiffusionException($"SSIM needs images of at least {minSide}x{minSide} pixels (its Gaussian window), got {reference.shape[2]}x{reference.shape[3]}.");
        if (!(dataRange > 0) || double.IsInfinity(dataRange))
            throw new DiffusionException($"The data range must be a positive number (2 for [-1, 1] images), got {dataRange}.");
    }
}
