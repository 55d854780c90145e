using Diffusion.Core;
using Diffusion.Core.Components;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// The simplest exact autoencoder: each f×f block of pixels becomes one latent pixel with f²·C channels
/// (space-to-depth, as PixelUnshuffle), decoded exactly by the inverse rearrangement. No weights. It shrinks the
/// grid a UNet works on without losing information, and lets tests prove that sampling, training and evaluation
/// go through the <see cref="IAutoencoder"/> seam; a learned VAE takes its place for latent diffusion.
/// </summary>
public sealed class SpaceToDepthAutoencoder : IAutoencoder
{
    /// <summary>The <c>_class_name</c> of this component in a pipeline folder.</summary>
    public const string ClassName = "SpaceToDepthAutoencoder";

    /// <summary>Creates the autoencoder.</summary>
    /// <param name="imageChannels">Channels of the images, ≥ 1.</param>
    /// <param name="factor">Block size f, ≥ 1 (1 is the identity).</param>
    /// <param name="scalingFactor">Multiplier applied to latents after encoding, &gt; 0. Default 1.</param>
    /// <exception cref="DiffusionException">An argument is out of range.</exception>
    public SpaceToDepthAutoencoder(int imageChannels, int factor, double scalingFactor = 1.0)
    {
        if (imageChannels < 1) throw new DiffusionException($"An autoencoder needs at least one image channel, got {imageChannels}.");
        if (factor < 1) throw new DiffusionException($"The space-to-depth factor must be at least 1, got {factor}.");
        if (!(scalingFactor > 0) || double.IsInfinity(scalingFactor)) throw new DiffusionException($"The scaling factor must be a positive number, got {scalingFactor}.");
        ImageChannels = imageChannels;
        DownsampleFactor = factor;
        ScalingFactor = scalingFactor;
    }

    /// <inheritdoc />
    public int ImageChannels { get; }

    /// <inheritdoc />
    public int LatentChannels => ImageChannels * DownsampleFactor * DownsampleFactor;

    /// <inheritdoc />
    public int DownsampleFactor { get; }

    /// <inheritdoc />
    public double ScalingFactor { get; }

    /// <inheritdoc />
    public Tensor Encode(Tensor images, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.dim() != 4 || images.shape[1] != ImageChannels)
            throw new DiffusionException($"The autoencoder expects images of shape (B, {ImageChannels}, H, W), got ({string.Join(", ", images.shape)}).");
        this.LatentShape(images.shape[2], images.shape[3]); // checks divisibility
        using var scope = NewDisposeScope();
        long b = images.shape[0], c = ImageChannels, f = DownsampleFactor, h = images.shape[2] / f, w = images.shape[3] / f;
        var x = images.to(ScalarType.Float32).reshape(b, c, h, f, w, f)   // (B, C, h, f, w, f)
            .permute(0, 1, 3, 5, 2, 4)                                    // (B, C, f, f, h, w)
            .reshape(b, c * f * f, h, w);                                 // (B, C·f², h, w)
        return (x * ScalingFactor).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public Tensor Decode(Tensor latents)
    {
        ArgumentNullException.ThrowIfNull(latents);
        if (latents.dim() != 4 || latents.shape[1] != LatentChannels)
            throw new DiffusionException($"The autoencoder expects latents of shape (B, {LatentChannels}, h, w), got ({string.Join(", ", latents.shape)}).");
        using var scope = NewDisposeScope();
        long b = latents.shape[0], c = ImageChannels, f = DownsampleFactor, h = latents.shape[2], w = latents.shape[3];
        var x = (latents.to(ScalarType.Float32) / ScalingFactor).reshape(b, c, f, f, h, w) // (B, C, f, f, h, w)
            .permute(0, 1, 4, 2, 5, 3)                                                   // (B, C, h, f, w, f)
            .reshape(b, c, h * f, w * f);                                                // (B, C, H, W)
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>Writes <c>config.json</c> into <paramref name="folder"/>.</summary>
    public void Save(string folder)
    {
        var json = ComponentConfig.New(ClassName);
        json["in_channels"] = ImageChannels;
        json["latent_channels"] = LatentChannels;
        json["downsample_factor"] = DownsampleFactor;
        json["scaling_factor"] = ScalingFactor;
        ComponentConfig.Write(json, Path.Combine(folder, "config.json"));
    }

    /// <summary>Reads an autoencoder written by <see cref="Save"/>.</summary>
    /// <exception cref="DiffusionException">The config is missing, names another class, or is inconsistent.</exception>
    public static SpaceToDepthAutoencoder Load(string folder)
    {
        var c = ComponentConfig.Read(Path.Combine(folder, "config.json"), "autoencoder", ClassName);
        var a = new SpaceToDepthAutoencoder(c.RequiredInt("in_channels"), c.RequiredInt("downsample_factor"), c.Double("scaling_factor") ?? 1.0);
        if (c.Int("latent_channels") is int latent && latent != a.LatentChannels)
            throw new DiffusionException($"{c.Source}: latent_channels {latent} does not match in_channels·factor² = {a.LatentChannels}.");
        c.EnsureAllRead();
        return a;
    }
}
