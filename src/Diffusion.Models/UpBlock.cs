using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// One level of the expanding path (diffusers' <c>UpBlock2D</c> / <c>AttnUpBlock2D</c> / <c>CrossAttnUpBlock2D</c>): residual
/// blocks that each first concatenate one skip tensor popped from the contracting path, each optionally followed by
/// self-attention or cross-attention on the context, then an optional upsampler.
/// </summary>
internal sealed class UpBlock : nn.Module
{
    [ComponentName(Name = "resnets")]
    private readonly ModuleList<ResBlock> _resnets;

    [ComponentName(Name = "attentions")]
    private readonly ModuleList<nn.Module> _attentions;

    [ComponentName(Name = "upsamplers")]
    private readonly ModuleList<Upsample> _upsamplers;

    /// <param name="inChannels">Channels arriving from below (the mid block or the previous up level).</param>
    /// <param name="outChannels">Channels of this level.</param>
    /// <param name="skipChannels">Channels of the skip tensor each residual block concatenates, in pop order.</param>
    /// <param name="o">The UNet's options.</param>
    /// <param name="attention">Whether each residual block is followed by attention.</param>
    /// <param name="cross">Whether that attention is cross-attention on the context (a <see cref="SpatialTransformer"/>).</param>
    /// <param name="upsample">Whether the level ends with an upsampler.</param>
    /// <param name="generator">Draws the initial weights; null uses the global generator.</param>
    public UpBlock(long inChannels, long outChannels, IReadOnlyList<long> skipChannels, UNetOptions o, bool attention, bool cross, bool upsample, Generator? generator)
        : base(nameof(UpBlock))
    {
        _resnets = new ModuleList<ResBlock>();
        _attentions = new ModuleList<nn.Module>();
        _upsamplers = new ModuleList<Upsample>();
        for (int j = 0; j < skipChannels.Count; j++)
        {
            long resIn = (j == 0 ? inChannels : outChannels) + skipChannels[j];
            _resnets.Add(new ResBlock(resIn, outChannels, o.ResolvedTimeEmbeddingDim, o.GroupNormGroups, o.Dropout, generator));
            if (attention) _attentions.Add(BlockAttention.Create(outChannels, cross, o, generator));
        }
        if (upsample) _upsamplers.Add(new Upsample(outChannels, generator));
        RegisterComponents();
    }

    /// <summary>Runs the level on <paramref name="h"/>, popping one skip tensor per residual block; cross-attention reads
    /// <paramref name="cross"/>. Runs in the caller's dispose scope.</summary>
    public Tensor Forward(Tensor h, Tensor embedding, CrossContext? cross, Stack<Tensor> skips)
    {
        for (int j = 0; j < _resnets.Count; j++)
        {
            h = cat(new[] { h, skips.Pop() }, 1); // (B, C_h + C_skip, H, W)
            h = _resnets[j].call(h, embedding); // (B, C_out, H, W)
            if (_attentions.Count > 0) h = BlockAttention.Apply(_attentions[j], h, cross);
        }
        foreach (var up in _upsamplers) h = up.call(h); // (B, C_out, 2H, 2W)
        return h;
    }
}
