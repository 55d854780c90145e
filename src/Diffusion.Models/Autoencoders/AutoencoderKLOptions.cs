using Diffusion.Core;

namespace Diffusion.Models;

/// <summary>
/// The architecture of an <see cref="AutoencoderKL"/> (diffusers' <c>AutoencoderKL</c> config names in brackets). One
/// level per entry of <see cref="BlockOutChannels"/>; every level but the last halves the resolution, so 3 levels
/// downsample ×4 and 4 levels ×8 (Stable Diffusion's VAE: 128-256-512-512, 2 layers, 4 latent channels).
/// </summary>
public sealed record AutoencoderKLOptions
{
    /// <summary>Image channels in and out (<c>in_channels</c>, <c>out_channels</c>). Default 3.</summary>
    public int ImageChannels { get; init; } = 3;

    /// <summary>Channels of each level of the encoder (the decoder mirrors them) (<c>block_out_channels</c>).
    /// Default 32-64-128 (×4).</summary>
    public IReadOnlyList<int> BlockOutChannels { get; init; } = [32, 64, 128];

    /// <summary>Residual blocks per encoder level; decoder levels have one more, as in diffusers (<c>layers_per_block</c>). Default 1.</summary>
    public int LayersPerBlock { get; init; } = 1;

    /// <summary>Channels of the latent z (<c>latent_channels</c>); the encoder outputs twice as many (mean and log-variance). Default 4.</summary>
    public int LatentChannels { get; init; } = 4;

    /// <summary>Groups of every group normalization; must divide every entry of <see cref="BlockOutChannels"/>
    /// (<c>norm_num_groups</c>). Default 32.</summary>
    public int NormGroups { get; init; } = 32;

    /// <summary>The image side the model was trained at, in pixels (<c>sample_size</c>); informative: the network is
    /// convolutional and takes any multiple of <see cref="DownsampleFactor"/>. Default 64.</summary>
    public int SampleSize { get; init; } = 64;

    /// <summary>Latents are multiplied by this after encoding and divided by it before decoding, so a denoiser sees roughly
    /// unit variance (<c>scaling_factor</c>; Rombach et al. 2022, Sec. 4.3.2): 1 / std of the raw latents, estimated from
    /// data after training. Default 1.</summary>
    public double ScalingFactor { get; init; } = 1.0;

    /// <summary>Self-attention in the middle blocks of encoder and decoder (<c>mid_block_add_attention</c>). Default true.</summary>
    public bool MidBlockAttention { get; init; } = true;

    /// <summary>How many image pixels one latent pixel spans along each side: 2^(levels − 1).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public int DownsampleFactor => 1 << (BlockOutChannels.Count - 1);

    /// <summary>Throws <see cref="DiffusionException"/> when a value is out of range.</summary>
    public void Validate()
    {
        if (ImageChannels < 1) throw new DiffusionException($"ImageChannels must be at least 1, got {ImageChannels}.");
        if (BlockOutChannels is null || BlockOutChannels.Count is < 1 or > 6)
            throw new DiffusionException($"BlockOutChannels needs 1 to 6 levels, got {BlockOutChannels?.Count ?? 0}.");
        if (NormGroups < 1) throw new DiffusionException($"NormGroups must be at least 1, got {NormGroups}.");
        foreach (var c in BlockOutChannels)
            if (c < 1 || c % NormGroups != 0)
                throw new DiffusionException($"Every entry of BlockOutChannels must be a positive multiple of NormGroups ({NormGroups}), got {c}.");
        if (LayersPerBlock < 1) throw new DiffusionException($"LayersPerBlock must be at least 1, got {LayersPerBlock}.");
        if (LatentChannels < 1) throw new DiffusionException($"LatentChannels must be at least 1, got {LatentChannels}.");
        if (SampleSize < 1 || SampleSize % DownsampleFactor != 0)
            throw new DiffusionException($"SampleSize must be a positive multiple of the downsampling factor {DownsampleFactor}, got {SampleSize}.");
        if (!(ScalingFactor > 0) || double.IsInfinity(ScalingFactor)) throw new DiffusionException($"ScalingFactor must be a positive number, got {ScalingFactor}.");
    }

    /// <summary>Value equality including the channel list (records compare lists by reference).</summary>
    public bool Equals(AutoencoderKLOptions? other)
        => other is not null && ImageChannels == other.ImageChannels && BlockOutChannels.SequenceEqual(other.BlockOutChannels)
        && LayersPerBlock == other.LayersPerBlock && LatentChannels == other.LatentChannels && NormGroups == other.NormGroups
        && SampleSize == other.SampleSize && ScalingFactor.Equals(other.ScalingFactor) && MidBlockAttention == other.MidBlockAttention;

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(ImageChannels, BlockOutChannels.Count, LayersPerBlock, LatentChannels, NormGroups, SampleSize, ScalingFactor);
}
