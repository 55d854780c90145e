using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// The attention that follows a residual block in the down, middle and up blocks: a <see cref="SpatialTransformer"/>
/// where the model reads a context there, otherwise self-attention (<see cref="AttentionBlock"/>). Both live in the
/// block's <c>attentions</c> list, as in diffusers' <c>CrossAttnDownBlock2D</c> and <c>AttnDownBlock2D</c>.
/// </summary>
internal static class BlockAttention
{
    /// <summary>A new attention layer for <paramref name="channels"/> channels: cross-attention when <paramref name="cross"/>.</summary>
    public static nn.Module Create(long channels, bool cross, UNetOptions o, Generator? generator) => cross
        ? new SpatialTransformer(channels, o, generator)
        : new AttentionBlock(channels, o.AttentionHeadDim, o.GroupNormGroups, o.Dropout, generator);

    /// <summary>Applies <paramref name="attention"/> (made by <see cref="Create"/>) to <paramref name="h"/> (B, C, H, W).</summary>
    /// <exception cref="DiffusionException">A cross-attention layer got no context (a bug in the caller: the UNet checks first).</exception>
    public static Tensor Apply(nn.Module attention, Tensor h, CrossContext? cross) => attention switch
    {
        SpatialTransformer transformer => transformer.call(h, cross ?? throw new DiffusionException("A cross-attention block needs the context.")),
        AttentionBlock self => self.call(h),
        _ => throw new InvalidOperationException($"Unexpected attention module {attention.GetType().Name}."),
    };
}
