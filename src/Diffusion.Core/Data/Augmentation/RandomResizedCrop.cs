using static TorchSharp.torch;

namespace Diffusion.Core.Data;

/// <summary>
/// Crops a random window of each image and resizes it back to the full size (Szegedy et al. 2015's "random resized
/// crop", as torchvision's <c>RandomResizedCrop</c>): the window's area share a ~ U(minScale, 1) and aspect ratio r
/// (log-uniform in [1/maxRatio, maxRatio]) give a width √(a·r) and height √(a/r) (as shares of the side, at most 1),
/// placed uniformly inside the image. The resize is bilinear (an affine sampling grid), so values stay in the input's range.
/// </summary>
public sealed class RandomResizedCrop : IImageAugmentation
{
    /// <summary>Creates the crop.</summary>
    /// <param name="minScale">Smallest area share a crop keeps, in (0, 1].</param>
    /// <param name="maxRatio">Largest aspect ratio, ≥ 1 (1: square crops).</param>
    /// <exception cref="DiffusionException">An argument is out of range.</exception>
    public RandomResizedCrop(double minScale, double maxRatio = 1.0)
    {
        if (!(minScale > 0 && minScale <= 1)) throw new DiffusionException($"The crop's minimum scale must be in (0, 1], got {minScale}.");
        if (!(maxRatio >= 1) || double.IsInfinity(maxRatio)) throw new DiffusionException($"The crop's maximum aspect ratio must be a finite number ≥ 1, got {maxRatio}.");
        MinScale = minScale;
        MaxRatio = maxRatio;
    }

    /// <summary>Smallest area share a crop keeps.</summary>
    public double MinScale { get; }

    /// <summary>Largest aspect ratio.</summary>
    public double MaxRatio { get; }

    /// <inheritdoc />
    public Tensor Apply(Tensor images, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(generator);
        ImageAugmentation.Check(images);
        using var scope = NewDisposeScope();
        long b = images.shape[0];
        var u = rand(new[] { b, 4 }, dtype: ScalarType.Float64, generator: generator); // (B, 4): area, ratio, x, y
        var area = MinScale + (1 - MinScale) * u[.., 0];
        var logRatio = (u[.., 1] * 2 - 1) * Math.Log(MaxRatio);
        var ratio = logRatio.exp();
        var w = (area * ratio).sqrt().clamp_max(1.0); // share of the width
        var h = (area / ratio).sqrt().clamp_max(1.0); // share of the height
        // In grid coordinates ([−1, 1] across the image) the window's centre may move by (1 − w) either way.
        var cx = (u[.., 2] * 2 - 1) * (1 - w);
        var cy = (u[.., 3] * 2 - 1) * (1 - h);
        var zero = zeros_like(w);
        var theta = stack([stack([w, zero, cx], 1), stack([zero, h, cy], 1)], 1); // (B, 2, 3)
        var grid = nn.functional.affine_grid(theta.to(images.dtype).to(images.device), images.shape, align_corners: false); // (B, H, W, 2)
        var y = nn.functional.grid_sample(images, grid, mode: GridSampleMode.Bilinear, padding_mode: GridSamplePaddingMode.Border, align_corners: false);
        return y.MoveToOuterDisposeScope();
    }
}
