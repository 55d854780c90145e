using Diffusion.Core;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// Multi-head attention over a token sequence (Vaswani et al. 2017), laid out as diffusers' <c>Attention</c> inside a
/// <c>BasicTransformerBlock</c>: <c>to_q</c>, <c>to_k</c>, <c>to_v</c> without bias, <c>to_out.0</c> with bias. Given no
/// context it is self-attention (<c>attn1</c>); given a <see cref="CrossContext"/> the keys and values come from the
/// context and padding tokens are masked out (<c>attn2</c>, Rombach et al. 2022, eq. 3).
/// </summary>
internal sealed class TransformerAttention : nn.Module<Tensor, CrossContext?, Tensor>
{
    private readonly long _heads, _inner;

    [ComponentName(Name = "to_q")]
    private readonly Linear _toQ;

    [ComponentName(Name = "to_k")]
    private readonly Linear _toK;

    [ComponentName(Name = "to_v")]
    private readonly Linear _toV;

    // A list (output projection, dropout) so the projection's keys are "to_out.0.*" as in diffusers.
    [ComponentName(Name = "to_out")]
    private readonly ModuleList<nn.Module<Tensor, Tensor>> _toOut;

    /// <param name="queryDim">Width of the tokens that ask (the feature map's channels).</param>
    /// <param name="keyDim">Width of the tokens attended to: <paramref name="queryDim"/> for self-attention, the
    /// context width D for cross-attention.</param>
    /// <param name="headDim">Channels per head; must divide <paramref name="queryDim"/>.</param>
    /// <param name="dropout">Dropout probability after the output projection.</param>
    /// <param name="generator">Draws the initial weights; null uses the global generator.</param>
    public TransformerAttention(long queryDim, long keyDim, long headDim, double dropout, Generator? generator) : base(nameof(TransformerAttention))
    {
        if (headDim < 1 || queryDim % headDim != 0)
            throw new DiffusionException($"Attention head width {headDim} must divide the {queryDim} channels of the block.");
        _inner = queryDim;
        _heads = queryDim / headDim;
        _toQ = Layers.Linear(queryDim, _inner, generator, bias: false);
        _toK = Layers.Linear(keyDim, _inner, generator, bias: false);
        _toV = Layers.Linear(keyDim, _inner, generator, bias: false);
        _toOut = nn.ModuleList<nn.Module<Tensor, Tensor>>(Layers.Linear(_inner, queryDim, generator), nn.Dropout(dropout));
        RegisterComponents();
    }

    /// <summary>Attends from <paramref name="x"/> (B, N, queryDim) to itself, or to <paramref name="cross"/>'s context
    /// (B, L, keyDim); returns (B, N, queryDim).</summary>
    public override Tensor forward(Tensor x, CrossContext? cross)
    {
        using var scope = NewDisposeScope();
        var source = cross?.Context ?? x;
        long b = x.shape[0], n = x.shape[1], l = source.shape[1], d = _inner / _heads;
        var q = _toQ.call(x).view(b, n, _heads, d).transpose(1, 2); // (B, heads, N, d)
        var k = _toK.call(source).view(b, l, _heads, d).transpose(1, 2); // (B, heads, L, d)
        var v = _toV.call(source).view(b, l, _heads, d).transpose(1, 2); // (B, heads, L, d)
        var a = ScaledAttention.Attend(q, k, v, cross?.Mask); // (B, heads, N, d)
        if (cross?.Keep is { } keep) a = a * keep; // rows without a real token: (B, heads, N, d) · (B, 1, 1, 1)
        a = a.transpose(1, 2).reshape(b, n, _inner); // (B, N, inner)
        foreach (var layer in _toOut) a = layer.call(a); // (B, N, queryDim)
        return a.MoveToOuterDisposeScope();
    }
}
