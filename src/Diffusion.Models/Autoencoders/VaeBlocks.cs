using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// diffusers' <c>ResnetBlock2D</c> without a time embedding, as the VAE uses it: h = conv1(SiLU(norm1(x)));
/// h = conv2(SiLU(norm2(h))); output = shortcut(x) + h, the shortcut a 1×1 convolution when the channels change.
/// Group norms with ε = 1e-6. (The UNet's <see cref="ResBlock"/> adds the timestep embedding between the convolutions.)
/// </summary>
internal sealed class VaeResBlock : nn.Module<Tensor, Tensor>
{
    internal const double NormEps = 1e-6;

    [ComponentName(Name = "norm1")]
    private readonly GroupNorm _norm1;

    [ComponentName(Name = "conv1")]
    private readonly ChannelPaddedConv2d _conv1;

    [ComponentName(Name = "norm2")]
    private readonly GroupNorm _norm2;

    [ComponentName(Name = "conv2")]
    private readonly ChannelPaddedConv2d _conv2;

    [ComponentName(Name = "conv_shortcut")]
    private readonly ChannelPaddedConv2d? _convShortcut;

    public VaeResBlock(long inChannels, long outChannels, int groups, Generator? generator) : base(nameof(VaeResBlock))
    {
        _norm1 = Layers.GroupNorm(groups, inChannels, NormEps);
        _conv1 = Layers.Conv2d(inChannels, outChannels, 3, generator, padding: 1);
        _norm2 = Layers.GroupNorm(groups, outChannels, NormEps);
        _conv2 = Layers.Conv2d(outChannels, outChannels, 3, generator, padding: 1);
        _convShortcut = inChannels == outChannels ? null : Layers.Conv2d(inChannels, outChannels, 1, generator);
        RegisterComponents();
    }

    /// <summary>(B, in, H, W) → (B, out, H, W).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = _conv1.call(nn.functional.silu(_norm1.call(x))); // (B, out, H, W)
        h = _conv2.call(nn.functional.silu(_norm2.call(h))); // (B, out, H, W)
        var skip = _convShortcut is null ? x : _convShortcut.call(x);
        return (skip + h).MoveToOuterDisposeScope();
    }
}

/// <summary>The VAE encoder's downsampler (diffusers' <c>Downsample2D</c> with <c>padding=0</c>): pad one zero row and
/// column at the bottom and right, then a stride-2 3×3 convolution without padding (key <c>conv</c>).</summary>
internal sealed class VaeDownsample : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "conv")]
    private readonly ChannelPaddedConv2d _conv;

    public VaeDownsample(long channels, Generator? generator) : base(nameof(VaeDownsample))
    {
        _conv = Layers.Conv2d(channels, channels, 3, generator, stride: 2, padding: 0);
        RegisterComponents();
    }

    /// <summary>(B, C, H, W) → (B, C, H/2, W/2) for even H and W.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var padded = nn.functional.pad(x, new long[] { 0, 1, 0, 1 }); // (B, C, H + 1, W + 1)
        return _conv.call(padded).MoveToOuterDisposeScope();
    }
}

/// <summary>The middle of encoder and decoder (diffusers' <c>UNetMidBlock2D</c> without time embedding): residual block,
/// single-head self-attention over all pixels (optional), residual block.</summary>
internal sealed class VaeMidBlock : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "resnets")]
    private readonly ModuleList<VaeResBlock> _resnets;

    [ComponentName(Name = "attentions")]
    private readonly ModuleList<AttentionBlock> _attentions;

    public VaeMidBlock(long channels, int groups, bool attention, Generator? generator) : base(nameof(VaeMidBlock))
    {
        _resnets = new ModuleList<VaeResBlock>(new VaeResBlock(channels, channels, groups, generator));
        _attentions = new ModuleList<AttentionBlock>();
        // diffusers sets attention_head_dim = channels in the VAE: one head.
        if (attention) _attentions.Add(new AttentionBlock(channels, channels, groups, 0, generator, VaeResBlock.NormEps));
        _resnets.Add(new VaeResBlock(channels, channels, groups, generator));
        RegisterComponents();
    }

    public override Tensor forward(Tensor h)
    {
        using var scope = NewDisposeScope();
        h = _resnets[0].call(h); // (B, C, H, W)
        foreach (var attention in _attentions) h = attention.call(h);
        h = _resnets[1].call(h); // (B, C, H, W)
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>One encoder level (diffusers' <c>DownEncoderBlock2D</c>): residual blocks, then a downsampler except at the last level.</summary>
internal sealed class VaeDownBlock : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "resnets")]
    private readonly ModuleList<VaeResBlock> _resnets;

    [ComponentName(Name = "downsamplers")]
    private readonly ModuleList<VaeDownsample>? _downsamplers;

    public VaeDownBlock(long inChannels, long outChannels, int layers, int groups, bool downsample, Generator? generator) : base(nameof(VaeDownBlock))
    {
        _resnets = new ModuleList<VaeResBlock>();
        for (int i = 0; i < layers; i++) _resnets.Add(new VaeResBlock(i == 0 ? inChannels : outChannels, outChannels, groups, generator));
        _downsamplers = downsample ? new ModuleList<VaeDownsample>(new VaeDownsample(outChannels, generator)) : null;
        RegisterComponents();
    }

    public override Tensor forward(Tensor h)
    {
        using var scope = NewDisposeScope();
        foreach (var r in _resnets) h = r.call(h);
        if (_downsamplers is not null) foreach (var d in _downsamplers) h = d.call(h);
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>One decoder level (diffusers' <c>UpDecoderBlock2D</c>): residual blocks, then an upsampler except at the last level.</summary>
internal sealed class VaeUpBlock : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "resnets")]
    private readonly ModuleList<VaeResBlock> _resnets;

    [ComponentName(Name = "upsamplers")]
    private readonly ModuleList<Upsample>? _upsamplers;

    public VaeUpBlock(long inChannels, long outChannels, int layers, int groups, bool upsample, Generator? generator) : base(nameof(VaeUpBlock))
    {
        _resnets = new ModuleList<VaeResBlock>();
        for (int i = 0; i < layers; i++) _resnets.Add(new VaeResBlock(i == 0 ? inChannels : outChannels, outChannels, groups, generator));
        _upsamplers = upsample ? new ModuleList<Upsample>(new Upsample(outChannels, generator)) : null;
        RegisterComponents();
    }

    public override Tensor forward(Tensor h)
    {
        using var scope = NewDisposeScope();
        foreach (var r in _resnets) h = r.call(h);
        if (_upsamplers is not null) foreach (var u in _upsamplers) h = u.call(h);
        return h.MoveToOuterDisposeScope();
    }
}
