using Diffusion.Core;
using static TorchSharp.torch;

namespace Diffusion.Pipelines;

/// <summary>
/// The parts of a <see cref="DiffusionPipeline"/>, through the SDK's seams: a denoiser, its noise schedule, optionally
/// a conditioner (classes, later text) and an autoencoder (latent diffusion). Without an autoencoder the denoiser works
/// on pixels.
/// </summary>
public sealed record PipelineComponents
{
    /// <summary>The network (or any <see cref="IDenoiser"/>).</summary>
    public required IDenoiser Denoiser { get; init; }

    /// <summary>The schedule the denoiser was trained with.</summary>
    public required INoiseScheduler Scheduler { get; init; }

    /// <summary>Turns class labels (or prompts) into conditions; null for an unconditional model.</summary>
    public IConditioner? Conditioner { get; init; }

    /// <summary>Maps images to the denoiser's latent space and back; null for pixel-space diffusion.</summary>
    public IAutoencoder? Autoencoder { get; init; }

    /// <summary>What the denoiser takes per image, (C, h, w): pixels without an autoencoder, latents with one.</summary>
    public required long[] SampleShape { get; init; }

    /// <summary>The bound x0 predictions are clamped to while sampling (1 for pixels in [−1, 1], diffusers'
    /// <c>clip_sample</c>), or null for none (the default for latents).</summary>
    public double? ClipSample { get; init; }

    /// <summary>Whether sampling runs under ATen's autocast (<see cref="Diffusion.Core.Training.Autocast"/>): float32 weights,
    /// convolutions, matrix products and attention in bfloat16. <see cref="DiffusionPipeline.Load"/> sets it for
    /// <see cref="Diffusion.Core.Training.Precision.Autocast"/>. Default false.</summary>
    public bool Autocast { get; init; }

    /// <summary>Checks that the parts fit together.</summary>
    /// <exception cref="DiffusionException">A part is missing or the shapes disagree.</exception>
    public void Validate()
    {
        if (Denoiser is null) throw new DiffusionException("A pipeline needs a denoiser.");
        if (Scheduler is null) throw new DiffusionException("A pipeline needs a noise schedule.");
        if (SampleShape is not { Length: 3 } || SampleShape.Any(d => d < 1))
            throw new DiffusionException($"SampleShape must be (C, h, w) with positive sizes, got ({string.Join(", ", SampleShape ?? [])}).");
        if (Autoencoder is { } a && a.LatentChannels != SampleShape[0])
            throw new DiffusionException($"The autoencoder makes latents with {a.LatentChannels} channels but the denoiser takes {SampleShape[0]}; they were not trained together.");
        if (ClipSample is <= 0) throw new DiffusionException($"ClipSample must be positive or null, got {ClipSample}.");
        // The UNet's cross-attention reads context and context_mask; it refuses the pooled text_embedding (docs/text.md).
        if (Conditioner is Text.Encoders.TextConditioner { IncludePooled: true } && Denoiser is Models.UNet)
            throw new DiffusionException("The UNet reads a text conditioner's context and mask, not its pooled text_embedding: build the TextConditioner with includePooled: false.");
    }

    /// <summary>The image shape (C, H, W) the pipeline produces.</summary>
    public long[] ImageShape => Autoencoder is { } a ? a.ImageShape(SampleShape[1], SampleShape[2]) : SampleShape;
}
