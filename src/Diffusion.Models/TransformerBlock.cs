using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// One pre-norm transformer layer over the pixels of a feature map (diffusers' <c>BasicTransformerBlock</c>; Rombach et
/// al. 2022, Appendix E.2): h += attn1(norm1(h)); h += attn2(norm2(h), context); h += ff(norm3(h)).
/// </summary>
internal sealed class TransformerBlock : nn.Module<Tensor, CrossContext, Tensor>
{
    [ComponentName(Name = "norm1")]
    private readonly LayerNorm _norm1;

    [ComponentName(Name = "attn1")]
    private readonly TransformerAttention _attn1;

    [ComponentName(Name = "norm2")]
    private readonly LayerNorm _norm2;

    [ComponentName(Name = "attn2")]
    private readonly TransformerAttention _attn2;

    [ComponentName(Name = "norm3")]
    private readonly LayerNorm _norm3;

    [ComponentName(Name = "ff")]
    private readonly FeedForward _ff;

    /// <param name="dim">Width of the tokens (the feature map's channels).</param>
    /// <param name="contextDim">Width D of the context vectors.</param>
    /// <param name="headDim">Channels per attention head.</param>
    /// <param name="dropout">Dropout probability in the attention outputs and the feed-forward layer.</param>
    /// <param name="generator">Draws the initial weights; null uses the global generator.</param>
    public TransformerBlock(long dim, long contextDim, long headDim, double dropout, Generator? generator) : base(nameof(TransformerBlock))
    {
        _norm1 = Layers.LayerNorm(dim);
        _attn1 = new TransformerAttention(dim, dim, headDim, dropout, generator);
        _norm2 = Layers.LayerNorm(dim);
        _attn2 = new TransformerAttention(dim, contextDim, headDim, dropout, generator);
        _norm3 = Layers.LayerNorm(dim);
        _ff = new FeedForward(dim, dropout, generator);
        RegisterComponents();
    }

    /// <summary>Maps tokens (B, N, dim) to (B, N, dim), reading <paramref name="cross"/>'s context in <c>attn2</c>.</summary>
    public override Tensor forward(Tensor h, CrossContext cross)
    {
        using var scope = NewDisposeScope();
        h = h + _attn1.call(_norm1.call(h), null); // (B, N, dim)
        h = h + _attn2.call(_norm2.call(h), cross); // (B, N, dim)
        h = h + _ff.call(_norm3.call(h)); // (B, N, dim)
        return h.MoveToOuterDisposeScope();
    }
}
