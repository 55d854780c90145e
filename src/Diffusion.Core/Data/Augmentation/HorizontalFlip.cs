using static TorchSharp.torch;

namespace Diffusion.Core.Data;

/// <summary>Mirrors each image left-right with probability ½. Draws one uniform number per image
/// (<c>rand(B) &lt; 0.5</c>), the same draw the trainer made before augmentation was its own type, so runs that flipped
/// then still train the same weights.</summary>
public sealed class HorizontalFlip : IImageAugmentation
{
    /// <inheritdoc />
    public Tensor Apply(Tensor images, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(generator);
        ImageAugmentation.Check(images);
        using var scope = NewDisposeScope();
        long b = images.shape[0];
        var flip = (rand(new[] { b }, generator: generator) < 0.5).to(images.device).reshape(b, 1, 1, 1); // (B, 1, 1, 1)
        return where(flip, images.flip(3), images).MoveToOuterDisposeScope();
    }
}
