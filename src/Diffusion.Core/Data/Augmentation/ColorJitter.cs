using static TorchSharp.torch;

namespace Diffusion.Core.Data;

/// <summary>
/// Small random changes of brightness, contrast and saturation (torchvision's <c>ColorJitter</c> without hue), in this
/// order, on the image in [0, 1]: brightness multiplies by β, contrast blends with the image's mean grey level by γ
/// (x' = m + γ·(x − m)), saturation blends with the greyscale image by σ (RGB only; ITU-R BT.601 luma weights). Each
/// factor is drawn per image uniformly from [1 − range, 1 + range]; the result is clamped back to the valid range.
/// </summary>
public sealed class ColorJitter : IImageAugmentation
{
    /// <summary>Creates the jitter; each range is in [0, 1) and 0 leaves that property alone.</summary>
    /// <exception cref="DiffusionException">A range is out of [0, 1).</exception>
    public ColorJitter(double brightness, double contrast, double saturation)
    {
        foreach (var (name, v) in new[] { ("brightness", brightness), ("contrast", contrast), ("saturation", saturation) })
            if (!(v >= 0 && v < 1)) throw new DiffusionException($"The colour jitter's {name} range must be in [0, 1), got {v}.");
        (Brightness, Contrast, Saturation) = (brightness, contrast, saturation);
    }

    /// <summary>Brightness factor range around 1.</summary>
    public double Brightness { get; }

    /// <summary>Contrast factor range around 1.</summary>
    public double Contrast { get; }

    /// <summary>Saturation factor range around 1.</summary>
    public double Saturation { get; }

    /// <inheritdoc />
    public Tensor Apply(Tensor images, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(generator);
        ImageAugmentation.Check(images);
        using var scope = NewDisposeScope();
        long b = images.shape[0], c = images.shape[1];
        // All three factors are drawn even when a range is 0, so the draws do not depend on which are switched on.
        var u = rand(new[] { b, 3 }, generator: generator).to(images.device).to(images.dtype); // (B, 3)
        Tensor Factor(int i, double range) => (1 + (u[.., i] * 2 - 1) * range).reshape(b, 1, 1, 1); // (B, 1, 1, 1)
        var x = (images + 1) / 2; // [0, 1]
        if (Brightness > 0) x = (x * Factor(0, Brightness)).clamp(0, 1);
        if (Contrast > 0)
        {
            var mean = Grey(x, c).mean([1, 2, 3], keepdim: true); // (B, 1, 1, 1)
            x = (mean + Factor(1, Contrast) * (x - mean)).clamp(0, 1);
        }
        if (Saturation > 0 && c == 3)
        {
            var grey = Grey(x, c); // (B, 1, H, W)
            x = (grey + Factor(2, Saturation) * (x - grey)).clamp(0, 1);
        }
        return (x * 2 - 1).MoveToOuterDisposeScope();
    }

    private static Tensor Grey(Tensor x, long channels)
        => channels == 3 ? (0.299 * x[.., 0..1] + 0.587 * x[.., 1..2] + 0.114 * x[.., 2..3]) : x.mean([1], keepdim: true); // (B, 1, H, W)
}
