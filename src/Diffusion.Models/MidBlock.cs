using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>The bottleneck at the lowest resolution (diffusers' <c>UNetMidBlock2D</c>, or <c>UNetMidBlock2DCrossAttn</c> when
/// the model reads a context): residual block, optional self-attention (cross-attention for context models), residual block.</summary>
internal sealed class MidBlock : nn.Module<Tensor, Tensor, CrossContext?, Tensor>
{
    [ComponentName(Name = "resnets")]
    private readonly ModuleList<ResBlock> _resnets;

    [ComponentName(Name = "attentions")]
    private readonly ModuleList<nn.Module> _attentions;

    public MidBlock(long channels, UNetOptions o, Generator? generator) : base(nameof(MidBlock))
    {
        _resnets = new ModuleList<ResBlock>();
        _attentions = new ModuleList<nn.Module>();
        _resnets.Add(new ResBlock(channels, channels, o.ResolvedTimeEmbeddingDim, o.GroupNormGroups, o.Dropout, generator));
        if (o.MidAttention) _attentions.Add(BlockAttention.Create(channels, o.CrossAttentionDim is not null, o, generator));
        _resnets.Add(new ResBlock(channels, channels, o.ResolvedTimeEmbeddingDim, o.GroupNormGroups, o.Dropout, generator));
        RegisterComponents();
    }

    public override Tensor forward(Tensor h, Tensor embedding, CrossContext? cross)
    {
        using var scope = NewDisposeScope();
        h = _resnets[0].call(h, embedding); // (B, C, H, W)
        foreach (var attention in _attentions) h = BlockAttention.Apply(attention, h, cross);
        h = _resnets[1].call(h, embedding); // (B, C, H, W)
        return h.MoveToOuterDisposeScope();
    }
}
