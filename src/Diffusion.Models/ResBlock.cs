using Diffusion.Core.Training;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// A residual block conditioned on the timestep embedding (Ho et al. 2020, Appendix B; diffusers'
/// <c>ResnetBlock2D</c>): h = conv1(SiLU(norm1(x))) + proj(SiLU(emb)); h = conv2(dropout(SiLU(norm2(h))));
/// output = shortcut(x) + h, where the shortcut is a 1×1 convolution when the channel count changes.
/// </summary>
public sealed class ResBlock : nn.Module<Tensor, Tensor, Tensor>
{
    [ComponentName(Name = "norm1")]
    private readonly GroupNorm _norm1;

    [ComponentName(Name = "conv1")]
    private readonly ChannelPaddedConv2d _conv1;

    [ComponentName(Name = "time_emb_proj")]
    private readonly Linear _timeEmbProj;

    [ComponentName(Name = "norm2")]
    private readonly GroupNorm _norm2;

    [ComponentName(Name = "dropout")]
    private readonly Dropout _dropout;

    [ComponentName(Name = "conv2")]
    private readonly ChannelPaddedConv2d _conv2;

    [ComponentName(Name = "conv_shortcut")]
    private readonly ChannelPaddedConv2d? _convShortcut;

    /// <summary>Creates the block.</summary>
    /// <param name="inChannels">Channels of the input.</param>
    /// <param name="outChannels">Channels of the output.</param>
    /// <param name="embeddingDim">Width of the timestep (+ class) embedding.</param>
    /// <param name="groups">Groups of both group normalizations; must divide both channel counts.</param>
    /// <param name="dropout">Dropout probability before the second convolution.</param>
    /// <param name="generator">Draws the initial weights; null uses the global generator.</param>
    public ResBlock(long inChannels, long outChannels, long embeddingDim, int groups, double dropout = 0, Generator? generator = null)
        : base(nameof(ResBlock))
    {
        _norm1 = Layers.GroupNorm(groups, inChannels);
        _conv1 = Layers.Conv2d(inChannels, outChannels, 3, generator, padding: 1);
        _timeEmbProj = Layers.Linear(embeddingDim, outChannels, generator);
        _norm2 = Layers.GroupNorm(groups, outChannels);
        _dropout = nn.Dropout(dropout);
        _conv2 = Layers.Conv2d(outChannels, outChannels, 3, generator, padding: 1);
        _convShortcut = inChannels == outChannels ? null : Layers.Conv2d(inChannels, outChannels, 1, generator);
        RegisterComponents();
    }

    /// <summary>Whether the block runs under <see cref="GradientCheckpoint"/> when gradients are recorded (set through
    /// <see cref="UNet.GradientCheckpointing"/>).</summary>
    internal bool Checkpointed { get; set; }

    /// <summary>Applies the block to <paramref name="x"/> (B, inChannels, H, W) given the embedding
    /// <paramref name="embedding"/> (B, embeddingDim); returns (B, outChannels, H, W).</summary>
    public override Tensor forward(Tensor x, Tensor embedding)
        => Checkpointed && is_grad_enabled() ? GradientCheckpoint.Run(a => Compute(a[0], a[1]), [x, embedding], parameters()) : Compute(x, embedding);

    private Tensor Compute(Tensor x, Tensor embedding)
    {
        using var scope = NewDisposeScope();
        var h = _conv1.call(nn.functional.silu(_norm1.call(x))); // (B, out, H, W)
        var e = _timeEmbProj.call(nn.functional.silu(embedding)); // (B, out)
        h = h + e.unsqueeze(-1).unsqueeze(-1); // (B, out, H, W) + (B, out, 1, 1)
        h = _conv2.call(_dropout.call(nn.functional.silu(_norm2.call(h)))); // (B, out, H, W)
        var skip = _convShortcut is null ? x : _convShortcut.call(x);
        return (skip + h).MoveToOuterDisposeScope();
    }
}
