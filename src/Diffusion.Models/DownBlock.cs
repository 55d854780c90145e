using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// One level of the contracting path (diffusers' <c>DownBlock2D</c> / <c>AttnDownBlock2D</c> / <c>CrossAttnDownBlock2D</c>):
/// residual blocks, each optionally followed by self-attention or cross-attention on the context, then an optional
/// downsampler. Every block output is pushed onto the skip stack for the expanding path.
/// </summary>
internal sealed class DownBlock : nn.Module
{
    [ComponentName(Name = "resnets")]
    private readonly ModuleList<ResBlock> _resnets;

    [ComponentName(Name = "attentions")]
    private readonly ModuleList<nn.Module> _attentions;

    [ComponentName(Name = "downsamplers")]
    private readonly ModuleList<Downsample> _downsamplers;

    public DownBlock(long inChannels, long outChannels, UNetOptions o, bool attention, bool cross, bool downsample, Generator? generator)
        : base(nameof(DownBlock))
    {
        _resnets = new ModuleList<ResBlock>();
        _attentions = new ModuleList<nn.Module>();
        _downsamplers = new ModuleList<Downsample>();
        for (int j = 0; j < o.LayersPerBlock; j++)
        {
            _resnets.Add(new ResBlock(j == 0 ? inChannels : outChannels, outChannels, o.ResolvedTimeEmbeddingDim, o.GroupNormGroups, o.Dropout, generator));
            if (attention) _attentions.Add(BlockAttention.Create(outChannels, cross, o, generator));
        }
        if (downsample) _downsamplers.Add(new Downsample(outChannels, generator));
        RegisterComponents();
    }

    /// <summary>Runs the level on <paramref name="h"/>, pushing each output onto <paramref name="skips"/>; cross-attention
    /// reads <paramref name="cross"/>. Runs in the caller's dispose scope, which owns the skip tensors.</summary>
    public Tensor Forward(Tensor h, Tensor embedding, CrossContext? cross, Stack<Tensor> skips)
    {
        for (int j = 0; j < _resnets.Count; j++)
        {
            h = _resnets[j].call(h, embedding); // (B, C_out, H, W)
            if (_attentions.Count > 0) h = BlockAttention.Apply(_attentions[j], h, cross);
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
