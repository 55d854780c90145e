using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>The bottleneck at the lowest resolution (diffusers' <c>UNetMidBlock2D</c>): residual block,
/// optional self-attention, residual block.</summary>
internal sealed class MidBlock : nn.Module<Tensor, Tensor, Tensor>
{
    [ComponentName(Name = "resnets")]
    private readonly ModuleList<ResBlock> _resnets;

    [ComponentName(Name = "attentions")]
    private readonly ModuleList<AttentionBlock> _attentions;

    public MidBlock(long channels, UNetOptions o, Generator? generator) : base(nameof(MidBlock))
    {
        _resnets = new ModuleList<ResBlock>();
        _attentions = new ModuleList<AttentionBlock>();
        _resnets.Add(new ResBlock(channels, channels, o.ResolvedTimeEmbeddingDim, o.GroupNormGroups, o.Dropout, generator));
        if (o.MidAttention) _attentions.Add(new AttentionBlock(channels, o.AttentionHeadDim, o.GroupNormGroups, o.Dropout, generator));
        _resnets.Add(new ResBlock(channels, channels, o.ResolvedTimeEmbeddingDim, o.GroupNormGroups, o.Dropout, generator));
        RegisterComponents();
    }

    public override Tensor forward(Tensor h, Tensor embedding)
    {
        using var scope = NewDisposeScope();
        h = _resnets[0].call(h, embedding); // (B, C, H, W)
        foreach (var attention in _attentions) h = attention.call(h);
        h = _resnets[1].call(h, embedding); // (B, C, H, W)
        return h.MoveToOuterDisposeScope();
    }
}
