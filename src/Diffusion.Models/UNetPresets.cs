namespace Diffusion.Models;

/// <summary>Ready-made <see cref="UNetOptions"/>, a fresh instance on every read; adjust one with a <c>with</c> expression.</summary>
public static class UNetPresets
{
    /// <summary>
    /// Class-conditional MNIST (28×28, 1 channel, 10 classes + the null class), sized for a few minutes of
    /// bfloat16 training on a laptop CPU: 3 levels 28 → 14 → 7 with 32, 64, 64 channels, 2 residual blocks
    /// per level, self-attention at 7×7 and in the middle.
    /// </summary>
    public static UNetOptions Mnist => new()
    {
        InChannels = 1,
        OutChannels = 1,
        SampleSize = 28,
        BaseChannels = 32,
        ChannelMultipliers = [1, 2, 2],
        LayersPerBlock = 2,
        AttentionLevels = [2],
        MidAttention = true,
        AttentionHeadDim = 32,
        NumClasses = 10,
        GroupNormGroups = 8,
    };

    /// <summary>
    /// The smallest useful network, for tests and smoke runs: 28×28, 1 channel, 2 levels with 16 and 32
    /// channels, 1 residual block per level, attention at level 1 and in the middle; unconditional.
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
}
