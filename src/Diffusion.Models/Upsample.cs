using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>Doubles the resolution by nearest-neighbour repetition followed by a 3×3 convolution
/// (diffusers' <c>Upsample2D</c>; key <c>conv</c>).</summary>
public sealed class Upsample : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "conv")]
    private readonly ChannelPaddedConv2d _conv;

    /// <summary>Creates the layer.</summary>
    /// <param name="channels">Channels in and out.</param>
    /// <param name="generator">Draws the initial weights; null uses the global generator.</param>
    public Upsample(long channels, Generator? generator = null) : base(nameof(Upsample))
    {
        _conv = Layers.Conv2d(channels, channels, 3, generator, padding: 1);
        RegisterComponents();
    }

    /// <summary>Maps (B, C, H, W) to (B, C, 2H, 2W).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        // Nearest-neighbour 2x as a broadcast: identical values to interpolate(mode: nearest), but its backward is a
        // plain sum, several times faster than libtorch's upsample_nearest2d_backward on CPU.
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        var up = x.reshape(b, c, h, 1, w, 1).expand(b, c, h, 2, w, 2).reshape(b, c, 2 * h, 2 * w); // (B, C, 2H, 2W)
        return _conv.call(up).MoveToOuterDisposeScope();
    }
}
