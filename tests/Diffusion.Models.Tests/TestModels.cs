using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Models.Tests;

/// <summary>Small seeded models and inputs shared by the tests.</summary>
internal static class TestModels
{
    /// <summary>A fast configuration: 16 base channels, 1 block per level, attention at every level.</summary>
    /// <remarks>Channel counts stay multiples of 16 on purpose: the libtorch CPU build on our dev machine computes
    /// wrong 3×3 convolutions for batch ≥ 2 when in_channels is above 16 and not a multiple of 16 (e.g. 24).</remarks>
    public static UNetOptions Small(int sampleSize = 16, int[]? multipliers = null, int inChannels = 1, int? classes = null) => new()
    {
        InChannels = inChannels,
        OutChannels = inChannels,
        SampleSize = sampleSize,
        BaseChannels = 16,
        ChannelMultipliers = multipliers ?? [1, 2],
        LayersPerBlock = 1,
        AttentionLevels = Enumerable.Range(0, (multipliers ?? [1, 2]).Length).ToArray(),
        AttentionHeadDim = 16,
        GroupNormGroups = 8,
        NumClasses = classes,
    };

    /// <summary>A fast cross-attention configuration: 8×8 images, 2 levels (16, 32 channels), attention heads of 8 channels
    /// (2 and 4 heads), a context of width 12, cross-attention at every level and in the middle block.</summary>
    public static UNetOptions Cross(int contextDim = 12, int? classes = null, int[]? crossLevels = null, int? depth = null)
        => Small(sampleSize: 8, classes: classes) with
        {
            AttentionHeadDim = 8,
            CrossAttentionDim = contextDim,
            CrossAttentionLevels = crossLevels,
            TransformerLayersPerBlock = depth,
        };

    /// <summary>Seeded context vectors (B, L, D).</summary>
    public static Tensor Context(long batch, long tokens, long dim = 12, long seed = 2)
        => randn(new[] { batch, tokens, dim }, generator: new Generator((ulong)seed, CPU));

    /// <summary>A bool (B, L) mask whose row i has <paramref name="lengths"/>[i] real tokens, then padding.</summary>
    public static Tensor Mask(long tokens, params long[] lengths)
        => arange(tokens).unsqueeze(0).lt(tensor(lengths).unsqueeze(1));

    public static UNet Build(UNetOptions options, long seed = 0) => new(options, new Generator((ulong)seed, CPU));

    public static Tensor Noise(UNetOptions o, long batch, long seed = 1)
        => randn(new[] { batch, o.InChannels, o.SampleSize, o.SampleSize }, generator: new Generator((ulong)seed, CPU));

    public static Tensor Timesteps(params float[] t) => tensor(t);

    public static Tensor Labels(params long[] labels) => tensor(labels);

    public static float MaxAbsDiff(Tensor a, Tensor b) => (a - b).abs().max().ToSingle();
}
