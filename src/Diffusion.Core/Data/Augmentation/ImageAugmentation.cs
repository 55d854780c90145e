using static TorchSharp.torch;

namespace Diffusion.Core.Data;

/// <summary>One random transformation of a batch of training images. Every random number comes from the caller's
/// generator, so the same seed gives the same batch; shapes and the [−1, 1] range are kept.</summary>
public interface IImageAugmentation
{
    /// <summary>Transforms <paramref name="images"/> (B, C, H, W), float, in [−1, 1], on any device.</summary>
    /// <param name="images">The batch; not modified.</param>
    /// <param name="generator">A CPU generator every draw comes from (drawn for the whole batch at once).</param>
    /// <returns>A new tensor of the same shape and dtype, in [−1, 1], in the caller's dispose scope.</returns>
    Tensor Apply(Tensor images, Generator generator);
}

/// <summary>
/// Augmentations applied one after the other (built by <see cref="AugmentationOptions.Build"/>). With no steps it
/// returns its input unchanged and draws nothing from the generator.
/// </summary>
public sealed class ImageAugmentation : IImageAugmentation
{
    /// <summary>Composes <paramref name="steps"/>, applied in order.</summary>
    public ImageAugmentation(IEnumerable<IImageAugmentation> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        Steps = steps.ToArray();
    }

    /// <summary>The identity: no steps.</summary>
    public static ImageAugmentation None { get; } = new([]);

    /// <summary>The steps, in the order they are applied.</summary>
    public IReadOnlyList<IImageAugmentation> Steps { get; }

    /// <inheritdoc />
    /// <exception cref="DiffusionException"><paramref name="images"/> is not a 4-D floating-point batch.</exception>
    public Tensor Apply(Tensor images, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(generator);
        if (Steps.Count == 0) return images;
        Check(images);
        using var scope = NewDisposeScope();
        var x = images;
        foreach (var step in Steps) x = step.Apply(x, generator);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>Throws unless <paramref name="images"/> is (B, C, H, W) floating point.</summary>
    /// <exception cref="DiffusionException">The shape or dtype is wrong.</exception>
    internal static void Check(Tensor images)
    {
        if (images.dim() != 4 || !images.is_floating_point())
            throw new DiffusionException($"Augmentation expects float images of shape (B, C, H, W), got {images.dtype} of shape ({string.Join(", ", images.shape)}).");
    }
}
