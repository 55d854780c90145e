using Diffusion.Core;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Text.Encoders;

/// <summary>
/// One pre-LayerNorm transformer layer: x + attention(LN₁(x)), then x + MLP(LN₂(x)) (Vaswani et al. 2017 with the
/// normalisation moved before each block, as in GPT-2 and CLIP). Keys as Hugging Face's <c>CLIPEncoderLayer</c>:
/// <c>self_attn.{q,k,v,out}_proj</c>, <c>layer_norm1</c>, <c>mlp.fc1</c>, <c>mlp.fc2</c>, <c>layer_norm2</c>.
/// </summary>
internal sealed class TextTransformerLayer : nn.Module<Tensor, Tensor, Tensor>
{
    [ComponentName(Name = "self_attn")]
    private readonly TextSelfAttention _selfAttention;

    [ComponentName(Name = "layer_norm1")]
    private readonly LayerNorm _norm1;

    [ComponentName(Name = "mlp")]
    private readonly TextMlp _mlp;

    [ComponentName(Name = "layer_norm2")]
    private readonly LayerNorm _norm2;

    public TextTransformerLayer(TextTransformerOptions o) : base(nameof(TextTransformerLayer))
    {
        _selfAttention = new TextSelfAttention(o.HiddenSize, o.Heads);
        _norm1 = nn.LayerNorm(o.HiddenSize, o.LayerNormEpsilon);
        _mlp = new TextMlp(o.HiddenSize, o.MlpWidth, o.Activation);
        _norm2 = nn.LayerNorm(o.HiddenSize, o.LayerNormEpsilon);
        RegisterComponents();
    }

    /// <summary>x (B, L, D) and a bool attention mask broadcastable to (B, heads, L, L), true where a query may look at a key.</summary>
    public override Tensor forward(Tensor x, Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        var h = x + _selfAttention.call(_norm1.call(x), attentionMask); // (B, L, D)
        h = h + _mlp.call(_norm2.call(h));                               // (B, L, D)
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>Multi-head self-attention with separate q, k, v and output projections (keys <c>q_proj</c>, <c>k_proj</c>,
/// <c>v_proj</c>, <c>out_proj</c>), computed by <c>scaled_dot_product_attention</c> with a boolean mask.</summary>
internal sealed class TextSelfAttention : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly long _heads;

    [ComponentName(Name = "q_proj")]
    private readonly Linear _q;

    [ComponentName(Name = "k_proj")]
    private readonly Linear _k;

    [ComponentName(Name = "v_proj")]
    private readonly Linear _v;

    [ComponentName(Name = "out_proj")]
    private readonly Linear _out;

    public TextSelfAttention(long dim, long heads) : base(nameof(TextSelfAttention))
    {
        if (dim % heads != 0) throw new DiffusionException($"{heads} attention heads must divide the width {dim}.");
        _heads = heads;
        _q = nn.Linear(dim, dim);
        _k = nn.Linear(dim, dim);
        _v = nn.Linear(dim, dim);
        _out = nn.Linear(dim, dim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], l = x.shape[1], dim = x.shape[2], d = dim / _heads;
        var q = _q.call(x).view(b, l, _heads, d).transpose(1, 2); // (B, heads, L, d)
        var k = _k.call(x).view(b, l, _heads, d).transpose(1, 2); // (B, heads, L, d)
        var v = _v.call(x).view(b, l, _heads, d).transpose(1, 2); // (B, heads, L, d)
        var a = nn.functional.scaled_dot_product_attention(q, k, v, attentionMask); // (B, heads, L, d)
        a = a.transpose(1, 2).reshape(b, l, dim);                 // (B, L, D)
        return _out.call(a).MoveToOuterDisposeScope();
    }
}

/// <summary>The layer's MLP: <c>fc1</c>, the activation, <c>fc2</c>.</summary>
internal sealed class TextMlp : nn.Module<Tensor, Tensor>
{
    private readonly TextActivation _activation;

    [ComponentName(Name = "fc1")]
    private readonly Linear _fc1;

    [ComponentName(Name = "fc2")]
    private readonly Linear _fc2;

    public TextMlp(long dim, long hidden, TextActivation activation) : base(nameof(TextMlp))
    {
        _activation = activation;
        _fc1 = nn.Linear(dim, hidden);
        _fc2 = nn.Linear(hidden, dim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = _fc1.call(x);
        h = _activation == TextActivation.QuickGelu ? h * sigmoid(1.702 * h) : nn.functional.gelu(h);
        return _fc2.call(h).MoveToOuterDisposeScope();
    }
}
