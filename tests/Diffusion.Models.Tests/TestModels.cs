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

    public static UNet Build(UNetOptions options, long seed = 0) => new(options, new Generator((ulong)seed, CPU));

    public static Tensor Noise(UNetOptions o, long batch, long seed = 1)
        => randn(new[] { batch, o.InChannels, o.SampleSize, o.SampleSize }, generator: new Generator((ulong)seed, CPU));

    public static Tensor Timesteps(params float[] t) => tensor(t);

    public static Tensor Labels(params long[] labels) => tensor(labels);

    public static float MaxAbsDiff(Tensor a, Tensor b) => (a - b).abs().max().ToSingle();
}
