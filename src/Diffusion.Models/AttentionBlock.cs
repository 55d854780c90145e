using Diffusion.Core.Training;
using Diffusion.Core;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// Multi-head self-attention over the pixels of a feature map, with a residual connection
/// (Vaswani et al. 2017; used at low resolutions by Ho et al. 2020). Laid out as diffusers' <c>Attention</c>
/// in a <c>UNet2DModel</c>: keys <c>group_norm</c>, <c>to_q</c>, <c>to_k</c>, <c>to_v</c>, <c>to_out.0</c>. The attention
/// itself is computed in float32 even when the block runs in bfloat16 (diffusers' <c>upcast_attention</c>).
/// </summary>
public sealed class AttentionBlock : nn.Module<Tensor, Tensor>
{
    private readonly long _heads;

    [ComponentName(Name = "group_norm")]
    private readonly GroupNorm _groupNorm;

    [ComponentName(Name = "to_q")]
    private readonly Linear _toQ;

    [ComponentName(Name = "to_k")]
    private readonly Linear _toK;

    [ComponentName(Name = "to_v")]
    private readonly Linear _toV;

    // A list (output projection, dropout) so the projection's keys are "to_out.0.*" as in diffusers.
    [ComponentName(Name = "to_out")]
    private readonly ModuleList<nn.Module<Tensor, Tensor>> _toOut;

    /// <summary>Creates the block.</summary>
    /// <param name="channels">Channels of the feature map, split evenly across heads.</param>
    /// <param name="headDim">Channels per head; must divide <paramref name="channels"/>.</param>
    /// <param name="groups">Groups of the input group normalization.</param>
    /// <param name="dropout">Dropout probability after the output projection.</param>
    /// <param name="generator">Draws the initial weights; null uses the global generator.</param>
    /// <param name="normEps">Epsilon of the group normalization (1e-5 in the UNet, 1e-6 in diffusers' VAE).</param>
    /// <exception cref="DiffusionException"><paramref name="headDim"/> does not divide <paramref name="channels"/>.</exception>
    public AttentionBlock(long channels, long headDim, int groups, double dropout = 0, Generator? generator = null, double normEps = 1e-5)
        : base(nameof(AttentionBlock))
    {
        if (headDim < 1 || channels % headDim != 0)
            throw new DiffusionException($"Attention head width {headDim} must divide the {channels} channels of the block.");
        _heads = channels / headDim;
        _groupNorm = Layers.GroupNorm(groups, channels, normEps);
        _toQ = Layers.Linear(channels, channels, generator);
        _toK = Layers.Linear(channels, channels, generator);
        _toV = Layers.Linear(channels, channels, generator);
        _toOut = nn.ModuleList<nn.Module<Tensor, Tensor>>(Layers.Linear(channels, channels, generator), nn.Dropout(dropout));
        RegisterComponents();
    }

    /// <summary>Whether the block runs under <see cref="GradientCheckpoint"/> when gradients are recorded (set through
    /// <see cref="UNet.GradientCheckpointing"/>).</summary>
    internal bool Checkpointed { get; set; }

    /// <summary>Returns x + attention(x) for a feature map <paramref name="x"/> of shape (B, C, H, W).</summary>
    public override Tensor forward(Tensor x)
        => Checkpointed && is_grad_enabled() ? GradientCheckpoint.Run(a => Compute(a[0]), [x], parameters()) : Compute(x);

    private Tensor Compute(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3], n = h * w, d = c / _heads;
        var tokens = _groupNorm.call(x).reshape(b, c, n).transpose(1, 2); // (B, HW, C)
        var q = _toQ.call(tokens).view(b, n, _heads, d).transpose(1, 2); // (B, heads, HW, d)
        var k = _toK.call(tokens).view(b, n, _heads, d).transpose(1, 2); // (B, heads, HW, d)
        var v = _toV.call(tokens).view(b, n, _heads, d).transpose(1, 2); // (B, heads, HW, d)
        var a = ScaledAttention.Attend(q, k, v); // (B, heads, HW, d)
        a = a.transpose(1, 2).reshape(b, n, c); // (B, HW, C)
        foreach (var layer in _toOut) a = layer.call(a); // (B, HW, C)
        a = a.transpose(1, 2).reshape(b, c, h, w); // (B, C, H, W)
        return (x + a).MoveToOuterDisposeScope();
    }
}
