using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// One level of the contracting path (diffusers' <c>DownBlock2D</c> / <c>AttnDownBlock2D</c>): residual blocks,
/// each optionally followed by self-attention, then an optional downsampler. Every block output is pushed
/// onto the skip stack for the expanding path.
/// </summary>
internal sealed class DownBlock : nn.Module
{
    [ComponentName(Name = "resnets")]
    private readonly ModuleList<ResBlock> _resnets;

    [ComponentName(Name = "attentions")]
    private readonly ModuleList<AttentionBlock> _attentions;

    [ComponentName(Name = "downsamplers")]
    private readonly ModuleList<Downsample> _downsamplers;

    public DownBlock(long inChannels, long outChannels, UNetOptions o, bool attention, bool downsample, Generator? generator)
        : base(nameof(DownBlock))
    {
        _resnets = new ModuleList<ResBlock>();
        _attentions = new ModuleList<AttentionBlock>();
        _downsamplers = new ModuleList<Downsample>();
        for (int j = 0; j < o.LayersPerBlock; j++)
        {
            _resnets.Add(new ResBlock(j == 0 ? inChannels : outChannels, outChannels, o.ResolvedTimeEmbeddingDim, o.GroupNormGroups, o.Dropout, generator));
            if (attention) _attentions.Add(new AttentionBlock(outChannels, o.AttentionHeadDim, o.GroupNormGroups, o.Dropout, generator));
        }
        if (downsample) _downsamplers.Add(new Downsample(outChannels, generator));
        RegisterComponents();
    }

    /// <summary>Runs the level on <paramref name="h"/>, pushing each output onto <paramref name="skips"/>.
    /// Runs in the caller's dispose scope, which owns the skip tensors.</summary>
    public Tensor Forward(Tensor h, Tensor embedding, Stack<Tensor> skips)
    {
        for (int j = 0; j < _resnets.Count; j++)
        {
            h = _resnets[j].call(h, embedding); // (B, C_out, H, W)
            if (_attentions.Count > 0) h = _attentions[j].call(h);
            skips.Push(h);
        }
        foreach (var down in _downsamplers)
        {
            h = down.call(h); // (B, C_out, H/2, W/2)
            skips.Push(h);
        }
        return h;
    }
}
