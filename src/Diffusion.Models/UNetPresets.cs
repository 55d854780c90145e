namespace Diffusion.Models;

/// <summary>Ready-made <see cref="UNetOptions"/>, a fresh instance on every read; adjust one with a <c>with</c> expression.</summary>
/// <remarks>All channel counts are multiples of 16, which keeps libtorch's CPU convolutions on their fast
/// (and, on our machines, only correct) blocked layouts; see <c>ChannelPaddedConv2d</c>.</remarks>
public static class UNetPresets
{
    /// <summary>
    /// Class-conditional MNIST (28×28, 1 channel, 10 classes + the null class), sized for minutes of bfloat16
    /// training on a 2-core CPU: 3 levels 28 → 14 → 7 with 16, 32, 64 channels, 2 residual blocks per level,
    /// self-attention (2 heads) at 7×7 and in the middle; about 1.0 M parameters. Capacity sits at the low
    /// resolutions, where it is cheap; the 28×28 level only refines strokes.
    /// </summary>
    public static UNetOptions Mnist => new()
    {
        InChannels = 1,
        OutChannels = 1,
        SampleSize = 28,
        BaseChannels = 16,
        ChannelMultipliers = [1, 2, 4],
        LayersPerBlock = 2,
        AttentionLevels = [2],
        MidAttention = true,
        AttentionHeadDim = 32,
        NumClasses = 10,
        GroupNormGroups = 8,
    };

    /// <summary>
    /// A wider class-conditional MNIST network for longer runs: 32, 64, 64 channels, otherwise as
    /// <see cref="Mnist"/>; about 1.6 M parameters and roughly twice the cost per step.
    /// </summary>
    public static UNetOptions MnistLarge => Mnist with { BaseChannels = 32, ChannelMultipliers = [1, 2, 2] };

    /// <summary>
    /// The smallest useful network, for tests and smoke runs: 28×28, 1 channel, 2 levels with 16 and 32
    /// channels, 1 residual block per level, attention at level 1 and in the middle; unconditional
    /// (add classes with <c>Tiny with { NumClasses = 10 }</c>).
    /// </summary>
    public static UNetOptions Tiny => new()
    {
        InChannels = 1,
        OutChannels = 1,
        SampleSize = 28,
        BaseChannels = 16,
        ChannelMultipliers = [1, 2],
        LayersPerBlock = 1,
        AttentionLevels = [1],
        MidAttention = true,
        AttentionHeadDim = 16,
        GroupNormGroups = 8,
    };

    /// <summary>
    /// Class-conditional CIFAR-10 (32×32 RGB, 10 classes): 3 levels 32 → 16 → 8 with 32, 64, 128 channels,
    /// 1 residual block per level, self-attention at 8×8 and in the middle.
    /// </summary>
    public static UNetOptions Cifar10 => new()
    {
        InChannels = 3,
        OutChannels = 3,
        SampleSize = 32,
        BaseChannels = 32,
        ChannelMultipliers = [1, 2, 4],
        LayersPerBlock = 1,
        AttentionLevels = [2],
        MidAttention = true,
        AttentionHeadDim = 32,
        NumClasses = 10,
        GroupNormGroups = 8,
    };

    /// <summary>
    /// Unconditional faces at 64×64 RGB: 4 levels 64 → 32 → 16 → 8 with 16, 32, 64, 128 channels, 1 residual
    /// block per level, self-attention at 8×8 and in the middle; about 2.7 M parameters.
    /// </summary>
    public static UNetOptions Faces64 => new()
    {
        InChannels = 3,
        OutChannels = 3,
        SampleSize = 64,
        BaseChannels = 16,
        ChannelMultipliers = [1, 2, 4, 8],
        LayersPerBlock = 1,
        AttentionLevels = [3],
        MidAttention = true,
        AttentionHeadDim = 32,
        GroupNormGroups = 8,
    };

    /// <summary>
    /// Unconditional faces at 32×32 RGB: the first three levels of <see cref="Faces64"/> (32 → 16 → 8 with 16, 32,
    /// 64 channels), attention at 8×8 and in the middle.
    /// </summary>
    public static UNetOptions Faces32 => Faces64 with { SampleSize = 32, ChannelMultipliers = [1, 2, 4], AttentionLevels = [2] };
}
