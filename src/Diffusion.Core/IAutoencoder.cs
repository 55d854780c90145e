using static TorchSharp.torch;

namespace Diffusion.Core;

/// <summary>
/// Maps images to the space a denoiser works in and back (Rombach et al. 2022: diffusion in the latent space of an
/// autoencoder). Latents are in the diffusion scaling: <see cref="Encode"/> multiplies by <see cref="ScalingFactor"/>
/// and <see cref="Decode"/> divides by it, so a denoiser sees data of roughly unit variance. A pipeline without an
/// autoencoder works on pixels.
/// </summary>
public interface IAutoencoder
{
    /// <summary>Channels of an image this autoencoder takes, e.g. 3 for RGB.</summary>
    int ImageChannels { get; }

    /// <summary>Channels of a latent, e.g. 4.</summary>
    int LatentChannels { get; }

    /// <summary>How many image pixels one latent pixel spans along each side (e.g. 8); 1 for no downsampling.</summary>
    int DownsampleFactor { get; }

    /// <summary>The factor latents are multiplied by after encoding (diffusers' <c>scaling_factor</c>), usually 1 / std of the raw latents.</summary>
    double ScalingFactor { get; }

    /// <summary>Encodes images in [−1, 1], shape (B, <see cref="ImageChannels"/>, H, W), to scaled latents of shape
    /// (B, <see cref="LatentChannels"/>, H / f, W / f). A probabilistic encoder samples its posterior with
    /// <paramref name="generator"/>; null means its mean.</summary>
    /// <exception cref="DiffusionException">The images do not have the channels or a size divisible by <see cref="DownsampleFactor"/>.</exception>
    Tensor Encode(Tensor images, Generator? generator = null);

    /// <summary>Decodes scaled latents (B, <see cref="LatentChannels"/>, h, w) to images (B, <see cref="ImageChannels"/>, h·f, w·f), float32, roughly in [−1, 1].</summary>
    /// <exception cref="DiffusionException">The latents do not have <see cref="LatentChannels"/> channels.</exception>
    Tensor Decode(Tensor latents);
}

/// <summary>Shape arithmetic shared by every <see cref="IAutoencoder"/>.</summary>
public static class AutoencoderExtensions
{
    /// <summary>The latent shape (C, h, w) of an image of <paramref name="height"/>×<paramref name="width"/> pixels.</summary>
    /// <exception cref="DiffusionException">The size is not divisible by the downsampling factor.</exception>
    public static long[] LatentShape(this IAutoencoder autoencoder, long height, long width)
    {
        ArgumentNullException.ThrowIfNull(autoencoder);
        int f = autoencoder.DownsampleFactor;
        if (height < f || width < f || height % f != 0 || width % f != 0)
            throw new DiffusionException($"An image of {height}x{width} pixels does not fit this autoencoder: both sides must be positive multiples of its downsampling factor {f}.");
        return [autoencoder.LatentChannels, height / f, width / f];
    }

    /// <summary>The image shape (C, H, W) a latent of <paramref name="height"/>×<paramref name="width"/> decodes to.</summary>
    public static long[] ImageShape(this IAutoencoder autoencoder, long height, long width)
    {
        ArgumentNullException.ThrowIfNull(autoencoder);
        return [autoencoder.ImageChannels, height * autoencoder.DownsampleFactor, width * autoencoder.DownsampleFactor];
    }
}
