using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>Halves the resolution with a stride-2 3×3 convolution (diffusers' <c>Downsample2D</c>; key <c>conv</c>).</summary>
public sealed class Downsample : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "conv")]
    private readonly ChannelPaddedConv2d _conv;

    /// <summary>Creates the layer.</summary>
    /// <param name="channels">Channels in and out.</param>
    /// <param name="generator">Draws the initial weights; null uses the global generator.</param>
    public Downsample(long channels, Generator? generator = null) : base(nameof(Downsample))
    {
        _conv = Layers.Conv2d(channels, channels, 3, generator, stride: 2, padding: 1);
        RegisterComponents();
    }

    /// <summary>Maps (B, C, H, W) to (B, C, H/2, W/2) for even H and W.</summary>
    public override Tensor forward(Tensor x) => _conv.call(x);
}
