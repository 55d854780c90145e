using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>The VAE's encoder (diffusers' <c>Encoder</c> with <c>double_z</c>): conv_in, one down block per level, the
/// middle block, GroupNorm + SiLU + conv_out to 2·latent channels (mean and log-variance of the posterior).</summary>
internal sealed class VaeEncoder : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "conv_in")]
    private readonly ChannelPaddedConv2d _convIn;

    [ComponentName(Name = "down_blocks")]
    private readonly ModuleList<VaeDownBlock> _downBlocks;

    [ComponentName(Name = "mid_block")]
    private readonly VaeMidBlock _midBlock;

    [ComponentName(Name = "conv_norm_out")]
    private readonly GroupNorm _convNormOut;

    [ComponentName(Name = "conv_out")]
    private readonly ChannelPaddedConv2d _convOut;

    public VaeEncoder(AutoencoderKLOptions o, Generator? generator) : base(nameof(VaeEncoder))
    {
        var ch = o.BlockOutChannels;
        _convIn = Layers.Conv2d(o.ImageChannels, ch[0], 3, generator, padding: 1);
        _downBlocks = new ModuleList<VaeDownBlock>();
        for (int i = 0; i < ch.Count; i++)
            _downBlocks.Add(new VaeDownBlock(i == 0 ? ch[0] : ch[i - 1], ch[i], o.LayersPerBlock, o.NormGroups, downsample: i < ch.Count - 1, generator));
        _midBlock = new VaeMidBlock(ch[^1], o.NormGroups, o.MidBlockAttention, generator);
        _convNormOut = Layers.GroupNorm(o.NormGroups, ch[^1], VaeResBlock.NormEps);
        _convOut = Layers.Conv2d(ch[^1], 2 * o.LatentChannels, 3, generator, padding: 1);
        RegisterComponents();
    }

    public ScalarType ParameterType => _convIn.ParameterType;

    /// <summary>(B, C, H, W) → (B, 2·latent, H/f, W/f).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = _convIn.call(x); // (B, c0, H, W)
        foreach (var block in _downBlocks) h = block.call(h); // (B, c_last, H/f, W/f)
        h = _midBlock.call(h);
        h = _convOut.call(nn.functional.silu(_convNormOut.call(h))); // (B, 2·latent, H/f, W/f)
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>The VAE's decoder (diffusers' <c>Decoder</c>): conv_in from the latent, the middle block, one up block per level
/// (layers_per_block + 1 residual blocks each) in reverse channel order, GroupNorm + SiLU + conv_out to image channels.</summary>
internal sealed class VaeDecoder : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "conv_in")]
    private readonly ChannelPaddedConv2d _convIn;

    [ComponentName(Name = "mid_block")]
    private readonly VaeMidBlock _midBlock;

    [ComponentName(Name = "up_blocks")]
    private readonly ModuleList<VaeUpBlock> _upBlocks;

    [ComponentName(Name = "conv_norm_out")]
    private readonly GroupNorm _convNormOut;

    [ComponentName(Name = "conv_out")]
    private readonly ChannelPaddedConv2d _convOut;

    public VaeDecoder(AutoencoderKLOptions o, Generator? generator) : base(nameof(VaeDecoder))
    {
        var reversed = o.BlockOutChannels.Reverse().ToArray();
        _convIn = Layers.Conv2d(o.LatentChannels, reversed[0], 3, generator, padding: 1);
        _midBlock = new VaeMidBlock(reversed[0], o.NormGroups, o.MidBlockAttention, generator);
        _upBlocks = new ModuleList<VaeUpBlock>();
        for (int i = 0; i < reversed.Length; i++)
            _upBlocks.Add(new VaeUpBlock(i == 0 ? reversed[0] : reversed[i - 1], reversed[i], o.LayersPerBlock + 1, o.NormGroups, upsample: i < reversed.Length - 1, generator));
        _convNormOut = Layers.GroupNorm(o.NormGroups, reversed[^1], VaeResBlock.NormEps);
        _convOut = Layers.Conv2d(reversed[^1], o.ImageChannels, 3, generator, padding: 1);
        RegisterComponents();
    }

    /// <summary>(B, latent, h, w) → (B, C, h·f, w·f).</summary>
    public override Tensor forward(Tensor z)
    {
        using var scope = NewDisposeScope();
        var h = _convIn.call(z); // (B, c_last, h, w)
        h = _midBlock.call(h);
        foreach (var block in _upBlocks) h = block.call(h); // (B, c0, H, W)
        h = _convOut.call(nn.functional.silu(_convNormOut.call(h))); // (B, C, H, W)
        return h.MoveToOuterDisposeScope();
    }
}
