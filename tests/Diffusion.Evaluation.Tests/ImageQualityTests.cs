using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation.Tests;

public sealed class ImageQualityTests
{
    private static Tensor Images(ulong seed, long b = 3, long size = 24)
    {
        using var g = new Generator(seed, CPU);
        return rand(new[] { b, 3L, size, size }, generator: g) * 2 - 1;
    }

    [Fact]
    public void IdenticalImagesHaveInfinitePsnrAndSsimOne()
    {
        using var scope = NewDisposeScope();
        var x = Images(1);
        Assert.All(ImageQuality.Psnr(x, x.clone()), p => Assert.Equal(double.PositiveInfinity, p));
        Assert.All(ImageQuality.Ssim(x, x.clone()), s => Assert.Equal(1.0, s, 12));
    }

    /// <summary>An offset of 0.1 everywhere on [−1, 1] images: MSE = 0.01, PSNR = 10·log10(2² / 0.01) = 10·log10(400) = 26.0206 dB.</summary>
    [Fact]
    public void AConstantOffsetGivesTheHandComputedPsnr()
    {
        using var scope = NewDisposeScope();
        var x = Images(2) * 0.5; // in [−0.5, 0.5], so the offset stays inside the range
        Assert.All(ImageQuality.Psnr(x, x + 0.1), p => Assert.Equal(26.0206, p, 4));
        // In bytes: an offset of 5 on the 255 range: 10·log10(255² / 25) = 34.1514 dB.
        var u = full(new long[] { 1, 1, 4, 4 }, 100.0);
        Assert.Equal(34.1514, ImageQuality.Psnr(u, u + 5, 255)[0], 4);
    }

    /// <summary>Two constant 11×11 images (one window position): the variances vanish and SSIM is the luminance term
    /// (2ab + C1) / (a² + b² + C1); for a = 0.2, b = 0.4 on [0, 1] (C1 = 1e−4): 0.1601 / 0.2001.</summary>
    [Fact]
    public void ConstantImagesGiveTheHandComputedSsim()
    {
        using var scope = NewDisposeScope();
        var a = full(new long[] { 1, 1, 11, 11 }, 0.2, dtype: ScalarType.Float64);
        var b = full(new long[] { 1, 1, 11, 11 }, 0.4, dtype: ScalarType.Float64);
        Assert.Equal(0.1601 / 0.2001, ImageQuality.Ssim(a, b, 1.0)[0], 10);
    }

    [Fact]
    public void SsimIsSymmetricAndFallsWithNoise()
    {
        using var scope = NewDisposeScope();
        var x = Images(3);
        var y = (x + 0.2 * randn(x.shape, generator: new Generator(4, CPU))).clamp(-1, 1);
        var xy = ImageQuality.Ssim(x, y);
        var yx = ImageQuality.Ssim(y, x);
        for (int i = 0; i < xy.Length; i++) Assert.Equal(xy[i], yx[i], 12);
        double previous = 1.0;
        foreach (var sigma in new[] { 0.05, 0.2, 0.5 })
        {
            var noisy = (x + sigma * randn(x.shape, generator: new Generator(5, CPU))).clamp(-1, 1);
            double s = ImageQuality.Ssim(x, noisy).Average();
            Assert.True(s < previous, $"SSIM {s} at noise {sigma} is not below {previous}");
            previous = s;
        }
        Assert.True(previous < 0.5);
    }

    [Fact]
    public void TheGaussianWindowSumsToOneAndPeaksInTheMiddle()
    {
        using var scope = NewDisposeScope();
        var w = ImageQuality.GaussianWindow(11, 1.5);
        Assert.Equal(1.0, w.sum().item<double>(), 12);
        Assert.Equal(w.max().item<double>(), w[0, 0, 5, 5].item<double>());
        // exp(-1/(2·1.5²)) is the ratio of a neighbour to the centre along one axis.
        Assert.Equal(Math.Exp(-1 / 4.5), (w[0, 0, 5, 6] / w[0, 0, 5, 5]).item<double>(), 12);
    }

    [Fact]
    public void BadShapesAreOneError()
    {
        using var scope = NewDisposeScope();
        Assert.Throws<DiffusionException>(() => ImageQuality.Psnr(Images(1, size: 16), Images(1, size: 12)));
        var e = Assert.Throws<DiffusionException>(() => ImageQuality.Ssim(Images(1, size: 8), Images(2, size: 8)));
        Assert.Contains("11x11", e.Message);
        Assert.Throws<DiffusionException>(() => ImageQuality.Psnr(Images(1), Images(2), 0));
    }
}
