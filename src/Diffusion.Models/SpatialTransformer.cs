using Diffusion.Core.Training;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// Cross-attention on a feature map (Rombach et al. 2022, section 3.3; diffusers' <c>Transformer2DModel</c> with
/// <c>use_linear_projection=False</c>): group norm (<c>norm</c>), a 1×1 convolution (<c>proj_in</c>), the pixels as tokens
/// through <see cref="TransformerBlock"/>s (<c>transformer_blocks</c>), a 1×1 convolution back (<c>proj_out</c>) and a
/// residual connection around it all. It takes the place of the self-attention block at the levels that read the context.
/// </summary>
internal sealed class SpatialTransformer : nn.Module<Tensor, CrossContext, Tensor>
{
    [ComponentName(Name = "norm")]
    private readonly GroupNorm _norm;

    [ComponentName(Name = "proj_in")]
    private readonly ChannelPaddedConv2d _projIn;

    [ComponentName(Name = "transformer_blocks")]
    private readonly ModuleList<TransformerBlock> _transformerBlocks;

    [ComponentName(Name = "proj_out")]
    private readonly ChannelPaddedConv2d _projOut;

    /// <param name="channels">Channels of the feature map (also the token width).</param>
    /// <param name="o">The UNet's options: context width, head width, depth, groups, dropout.</param>
    /// <param name="generator">Draws the initial weights; null uses the global generator.</param>
    public SpatialTransformer(long channels, UNetOptions o, Generator? generator) : base(nameof(SpatialTransformer))
    {
        // eps 1e-6 as in diffusers' Transformer2DModel (the residual blocks use 1e-5).
        _norm = Layers.GroupNorm(o.GroupNormGroups, channels, eps: 1e-6);
        _projIn = Layers.Conv2d(channels, channels, 1, generator);
        _transformerBlocks = new ModuleList<TransformerBlock>();
        for (int i = 0; i < o.ResolvedTransformerLayersPerBlock; i++)
            _transformerBlocks.Add(new TransformerBlock(channels, o.CrossAttentionDim!.Value, o.AttentionHeadDim, o.Dropout, generator));
        _projOut = Layers.Conv2d(channels, channels, 1, generator);
        RegisterComponents();
    }

    /// <summary>Whether the block runs under <see cref="GradientCheckpoint"/> when gradients are recorded (set through
    /// <see cref="UNet.GradientCheckpointing"/>).</summary>
    internal bool Checkpointed { get; set; }

    /// <summary>Returns x + transformer(x) for a feature map <paramref name="x"/> (B, C, H, W).</summary>
    public override Tensor forward(Tensor x, CrossContext cross)
        => Checkpointed && is_grad_enabled() ? Checkpoint(x, cross) : Compute(x, cross);

    // Every tensor goes in as a checkpoint input: the recomputation in backward runs after the UNet's forward scope has
    // freed the ones it made (the mask), and the context needs its gradient when a text encoder trains with the UNet.
    private Tensor Checkpoint(Tensor x, CrossContext cross)
    {
        var inputs = new List<Tensor> { x, cross.Context };
        if (cross.Mask is { } mask) inputs.Add(mask);
        if (cross.Keep is { } keep) inputs.Add(keep);
        bool hasMask = cross.Mask is not null, hasKeep = cross.Keep is not null;
        return GradientCheckpoint.Run(a => Compute(a[0], new CrossContext(a[1], hasMask ? a[2] : null, hasKeep ? a[hasMask ? 3 : 2] : null)), inputs, parameters());
    }

    private Tensor Compute(Tensor x, CrossContext cross)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        var t = _projIn.call(_norm.call(x)); // (B, C, H, W)
        t = t.reshape(b, c, h * w).transpose(1, 2); // (B, HW, C)
        foreach (var block in _transformerBlocks) t = block.call(t, cross); // (B, HW, C)
        t = t.transpose(1, 2).reshape(b, c, h, w); // (B, C, H, W)
        return (x + _projOut.call(t)).MoveToOuterDisposeScope();
    }
}
