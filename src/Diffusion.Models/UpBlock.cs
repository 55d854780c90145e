using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// One level of the expanding path (diffusers' <c>UpBlock2D</c> / <c>AttnUpBlock2D</c>): residual blocks that
/// each first concatenate one skip tensor popped from the contracting path, each optionally followed by
/// self-attention, then an optional upsampler.
/// </summary>
internal sealed class UpBlock : nn.Module
{
    [ComponentName(Name = "resnets")]
    private readonly ModuleList<ResBlock> _resnets;

    [ComponentName(Name = "attentions")]
    private readonly ModuleList<AttentionBlock> _attentions;

    [ComponentName(Name = "upsamplers")]
    private readonly ModuleList<Upsample> _upsamplers;

    /// <param name="inChannels">Channels arriving from below (the mid block or the previous up level).</param>
    /// <param name="outChannels">Channels of this level.</param>
    /// <param name="skipChannels">Channels of the skip tensor each residual block concatenates, in pop order.</param>
    /// <param name="o">The UNet's options.</param>
    /// <param name="attention">Whether each residual block is followed by self-attention.</param>
    /// <param name="upsample">Whether the level ends with an upsampler.</param>
    /// <param name="generator">Draws the initial weights; null uses the global generator.</param>
    public UpBlock(long inChannels, long outChannels, IReadOnlyList<long> skipChannels, UNetOptions o, bool attention, bool upsample, Generator? generator)
        : base(nameof(UpBlock))
    {
        _resnets = new ModuleList<ResBlock>();
        _attentions = new ModuleList<AttentionBlock>();
        _upsamplers = new ModuleList<Upsample>();
        for (int j = 0; j < skipChannels.Count; j++)
        {
            long resIn = (j == 0 ? inChannels : outChannels) + skipChannels[j];
            _resnets.Add(new ResBlock(resIn, outChannels, o.ResolvedTimeEmbeddingDim, o.GroupNormGroups, o.Dropout, generator));
            if (attention) _attentions.Add(new AttentionBlock(outChannels, o.AttentionHeadDim, o.GroupNormGroups, o.Dropout, generator));
        }
        if (upsample) _upsamplers.Add(new Upsample(outChannels, generator));
        RegisterComponents();
    }

    /// <summary>Runs the level on <paramref name="h"/>, popping one skip tensor per residual block.
    /// Runs in the caller's dispose scope.</summary>
    public Tensor Forward(Tensor h, Tensor embedding, Stack<Tensor> skips)
    {
        for (int j = 0; j < _resnets.Count; j++)
        {
            h = cat(new[] { h, skips.Pop() }, 1); // (B, C_h + C_skip, H, W)
            h = _resnets[j].call(h, embedding); // (B, C_out, H, W)
            if (_attentions.Count > 0) h = _attentions[j].call(h);
        }
        foreach (var up in _upsamplers) h = up.call(h); // (B, C_out, 2H, 2W)
        return h;
    }
}
