using System.Runtime.InteropServices;
using Diffusion.Core;
using Diffusion.Core.Training;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// The DDPM U-Net denoiser (Ho et al. 2020, Appendix B; Ronneberger et al. 2015) with the layout and
/// state-dict names of diffusers' <c>UNet2DModel</c>, so weights map one to one: <c>conv_in</c>,
/// <c>time_embedding</c>, <c>class_embedding</c>, <c>down_blocks</c>, <c>mid_block</c>, <c>up_blocks</c>,
/// <c>conv_norm_out</c>, <c>conv_out</c>. The timestep (plus, for class-conditional models, a learned
/// class vector) is embedded once and added inside every residual block. With
/// <see cref="UNetOptions.CrossAttentionDim"/> set, the network also reads a sequence of context vectors (e.g. text
/// embeddings) through cross-attention, with the blocks and names of diffusers' <c>UNet2DConditionModel</c>
/// (<c>CrossAttnDownBlock2D</c>, <c>UNetMidBlock2DCrossAttn</c>, <c>CrossAttnUpBlock2D</c>; Rombach et al. 2022, section 3.3).
/// </summary>
/// <remarks>
/// The module may be converted to bfloat16 (<c>model.to(ScalarType.BFloat16)</c>) for speed: inputs are
/// cast to the parameters' dtype on entry, the timestep encoding is computed in float32 first, and the
/// output is always float32.
/// </remarks>
public sealed class UNet : nn.Module<Tensor, Tensor, Condition, Tensor>, IDenoiser, ISupportsGradientCheckpointing
{
    [ComponentName(Name = "conv_in")]
    private readonly ChannelPaddedConv2d _convIn;

    [ComponentName(Name = "time_embedding")]
    private readonly TimestepEmbedding _timeEmbedding;

    [ComponentName(Name = "class_embedding")]
    private readonly Embedding? _classEmbedding;

    [ComponentName(Name = "down_blocks")]
    private readonly ModuleList<DownBlock> _downBlocks;

    [ComponentName(Name = "mid_block")]
    private readonly MidBlock _midBlock;

    [ComponentName(Name = "up_blocks")]
    private readonly ModuleList<UpBlock> _upBlocks;

    [ComponentName(Name = "conv_norm_out")]
    private readonly GroupNorm _convNormOut;

    [ComponentName(Name = "conv_out")]
    private readonly ChannelPaddedConv2d _convOut;

    /// <summary>Builds the network described by <paramref name="options"/>.</summary>
    /// <param name="options">The architecture; validated here.</param>
    /// <param name="generator">Draws every initial weight, so the same seed gives the same network; null
    /// uses TorchSharp's global generator (seed it with <c>torch.manual_seed</c>).</param>
    /// <exception cref="DiffusionException">The options are invalid.</exception>
    public UNet(UNetOptions options, Generator? generator = null) : base(nameof(UNet))
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        // A private copy: the record's arrays are mutable and the layout must not change under us.
        Options = options with
        {
            ChannelMultipliers = [.. options.ChannelMultipliers],
            AttentionLevels = [.. options.AttentionLevels],
            CrossAttentionLevels = options.CrossAttentionLevels is { } cross ? [.. cross] : null,
        };
        var o = Options;
        _fields = [.. o.NumClasses is null ? NoFields : LabelField, .. o.CrossAttentionDim is null ? NoFields : ContextFields];
        int levels = o.Levels;
        long embeddingDim = o.ResolvedTimeEmbeddingDim;

        _convIn = Layers.Conv2d(o.InChannels, o.BaseChannels, 3, generator, padding: 1);
        _timeEmbedding = new TimestepEmbedding(o.BaseChannels, embeddingDim, generator);
        _classEmbedding = o.NumClasses is int classes ? Layers.Embedding(classes + 1, embeddingDim, generator) : null;

        // Channels of every tensor pushed onto the skip stack, in push order: conv_in, then each down block output.
        var skipChannels = new Stack<long>();
        skipChannels.Push(o.BaseChannels);
        _downBlocks = new ModuleList<DownBlock>();
        for (int level = 0; level < levels; level++)
        {
            long inChannels = level == 0 ? o.BaseChannels : o.ChannelsAt(level - 1);
            long outChannels = o.ChannelsAt(level);
            bool downsample = level < levels - 1;
            _downBlocks.Add(new DownBlock(inChannels, outChannels, o, o.AttentionLevels.Contains(level), o.ResolvedCrossAttentionLevels.Contains(level), downsample, generator));
            for (int j = 0; j < o.LayersPerBlock + (downsample ? 1 : 0); j++) skipChannels.Push(outChannels);
        }

        _midBlock = new MidBlock(o.ChannelsAt(levels - 1), o, generator);

        _upBlocks = new ModuleList<UpBlock>();
        for (int level = levels - 1; level >= 0; level--)
        {
            long inChannels = level == levels - 1 ? o.ChannelsAt(levels - 1) : o.ChannelsAt(level + 1);
            var skips = Enumerable.Range(0, o.LayersPerBlock + 1).Select(_ => skipChannels.Pop()).ToArray();
            _upBlocks.Add(new UpBlock(inChannels, o.ChannelsAt(level), skips, o, o.AttentionLevels.Contains(level), o.ResolvedCrossAttentionLevels.Contains(level), level > 0, generator));
        }

        _convNormOut = Layers.GroupNorm(o.GroupNormGroups, o.BaseChannels);
        _convOut = Layers.Conv2d(o.BaseChannels, o.OutChannels, 3, generator, padding: 1);
        RegisterComponents();
    }

    /// <summary>The architecture this network was built from (a private copy).</summary>
    public UNetOptions Options { get; }

    /// <inheritdoc />
    public Prediction Prediction => Options.Prediction;

    /// <summary>
    /// Whether every residual and attention block runs under <see cref="GradientCheckpoint"/> while gradients are
    /// recorded: their activations are recomputed in backward instead of kept, which cuts peak training memory for about
    /// one extra forward pass. No effect on inference or on the result (the gradients are the same). Not part of
    /// <see cref="Options"/>: it is how the network is trained, not what it is. Default false.
    /// </summary>
    public bool GradientCheckpointing
    {
        get => _checkpointing;
        set
        {
            _checkpointing = value;
            foreach (var m in modules())
            {
                if (m is ResBlock r) r.Checkpointed = value;
                else if (m is AttentionBlock a) a.Checkpointed = value;
                else if (m is SpatialTransformer st) st.Checkpointed = value;
            }
        }
    }

    private bool _checkpointing;

    /// <summary>The number of scalar parameters.</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>The dtype of the parameters (float32 unless the module was converted, e.g. to bfloat16).</summary>
    public ScalarType ParameterType => _convIn.ParameterType;

    /// <inheritdoc />
    /// <exception cref="DiffusionException">A shape does not match <see cref="Options"/>, or a label is out of range.</exception>
    public Tensor Predict(Tensor x, Tensor t, Condition condition) => call(x, t, condition);

    /// <summary>Runs the network.</summary>
    /// <param name="x">The noisy sample x_t, shape (B, InChannels, SampleSize, SampleSize), any floating dtype.</param>
    /// <param name="t">Timesteps, shape (B) or a scalar for the whole batch; fractional values are allowed.</param>
    /// <param name="condition">For class-conditional models, <see cref="Condition.Labels"/> (int64, shape (B),
    /// values 0 … NumClasses, where NumClasses means "no class"); missing labels mean "no class" for every row.
    /// For cross-attention models (<see cref="UNetOptions.CrossAttentionDim"/> = D), the required
    /// <see cref="Condition.Context"/> (B, L, D), any floating dtype (cast to the parameters' dtype), and optionally
    /// <see cref="Condition.ContextMask"/>, bool (B, L), true for real tokens: padding positions are ignored, and a row
    /// without any real token gets no cross-attention contribution at all.
    /// A field the model was not built for (labels for an unconditional model, context without cross-attention) is an error.</param>
    /// <returns>The prediction (<see cref="Prediction"/>), float32, shape (B, OutChannels, SampleSize, SampleSize).</returns>
    /// <exception cref="DiffusionException">A shape does not match <see cref="Options"/>, a label is out of range, the
    /// context is missing or has the wrong shape, or the context mask does not match it.</exception>
    public override Tensor forward(Tensor x, Tensor t, Condition condition) => Forward(x, t, condition, null);

    /// <summary>Runs the network with extra residuals added to its skip connections and middle block (ControlNet).</summary>
    /// <param name="x">The noisy sample x_t, as for <see cref="forward"/>.</param>
    /// <param name="t">Timesteps, as for <see cref="forward"/>.</param>
    /// <param name="condition">The condition, as for <see cref="forward"/>.</param>
    /// <param name="residuals">Tensors of <see cref="ResidualShapes"/> (any floating dtype), or null for none.</param>
    /// <exception cref="DiffusionException">A shape does not match, the condition is not valid (see <see cref="forward"/>), or
    /// the residuals have the wrong count or shapes.</exception>
    public Tensor Forward(Tensor x, Tensor t, Condition condition, UNetResiduals? residuals)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(t);
        ArgumentNullException.ThrowIfNull(condition);
        CheckSample(x);
        condition.RequireOnly(_fields, "This UNet");
        using var scope = NewDisposeScope();
        long batch = x.shape[0];
        var dtype = ParameterType;
        var cross = Options.CrossAttentionDim is int contextDim ? ContextFor(condition, contextDim, batch, x.device, dtype) : null;

        var tt = TimestepsFor(t, batch, x.device); // (B) float32
        var emb = _timeEmbedding.call(SinusoidalEmbedding.Encode(tt, Options.BaseChannels).to(dtype)); // (B, E)
        if (_classEmbedding is not null) emb = emb + EmbedLabels(condition.Labels, batch, x.device); // (B, E)

        var h = _convIn.call(x.to(dtype)); // (B, C0, H, W)
        var skips = new Stack<Tensor>();
        skips.Push(h);
        foreach (var down in _downBlocks) h = down.Forward(h, emb, cross, skips);
        if (residuals is not null) skips = AddResiduals(skips, residuals, batch, dtype);
        h = _midBlock.call(h, emb, cross); // (B, C_last, H / 2^(L−1), W / 2^(L−1))
        if (residuals?.Mid is { } mid) h = h + mid.to(dtype);
        foreach (var up in _upBlocks) h = up.Forward(h, emb, cross, skips);

        h = _convOut.call(nn.functional.silu(_convNormOut.call(h))); // (B, OutChannels, H, W)
        return h.to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>The shapes <see cref="UNetResiduals"/> must have for a batch of <paramref name="batch"/>: the skip connections
    /// in the order they are made, and the middle block's output.</summary>
    public (IReadOnlyList<long[]> Down, long[] Mid) ResidualShapes(long batch)
    {
        var o = Options;
        var down = new List<long[]> { new long[] { batch, o.BaseChannels, o.SampleSize, o.SampleSize } };
        for (int level = 0; level < o.Levels; level++)
        {
            long size = o.SampleSize >> level, c = o.ChannelsAt(level);
            for (int j = 0; j < o.LayersPerBlock; j++) down.Add([batch, c, size, size]);
            if (level < o.Levels - 1) down.Add([batch, c, size / 2, size / 2]);
        }
        long last = o.SampleSize >> (o.Levels - 1);
        return (down, [batch, o.ChannelsAt(o.Levels - 1), last, last]);
    }

    private Stack<Tensor> AddResiduals(Stack<Tensor> skips, UNetResiduals residuals, long batch, ScalarType dtype)
    {
        var (shapes, mid) = ResidualShapes(batch);
        var inOrder = skips.Reverse().ToArray(); // push order: conv_in first
        if (residuals.Down.Count != inOrder.Length)
            throw new DiffusionException($"This UNet has {inOrder.Length} skip connections but got {residuals.Down.Count} down residuals.");
        for (int i = 0; i < inOrder.Length; i++)
            if (!residuals.Down[i].shape.SequenceEqual(shapes[i]))
                throw new DiffusionException($"Down residual {i} has shape ({string.Join(", ", residuals.Down[i].shape)}); this UNet expects ({string.Join(", ", shapes[i])}).");
        if (residuals.Mid is { } m && !m.shape.SequenceEqual(mid))
            throw new DiffusionException($"The mid residual has shape ({string.Join(", ", m.shape)}); this UNet expects ({string.Join(", ", mid)}).");
        var result = new Stack<Tensor>();
        for (int i = 0; i < inOrder.Length; i++) result.Push(inOrder[i] + residuals.Down[i].to(dtype));
        return result;
    }

    private static readonly string[] NoFields = [];
    private static readonly string[] LabelField = [Condition.Fields.Labels];
    private static readonly string[] ContextFields = [Condition.Fields.Context, Condition.Fields.ContextMask];

    // The condition fields this network reads.
    private readonly string[] _fields;

    private void CheckSample(Tensor x)
    {
        var o = Options;
        if (x.dim() != 4 || x.shape[1] != o.InChannels || x.shape[2] != o.SampleSize || x.shape[3] != o.SampleSize)
            throw new DiffusionException(
                $"The UNet expects images of shape (B, {o.InChannels}, {o.SampleSize}, {o.SampleSize}) but got ({string.Join(", ", x.shape)}); " +
                "resize the images or build the model with matching InChannels and SampleSize.");
        if (!x.is_floating_point())
            throw new DiffusionException($"The UNet expects a floating-point image, got {x.dtype}.");
    }

    private static Tensor TimestepsFor(Tensor t, long batch, Device device)
    {
        if (t.dim() == 0) return t.to(ScalarType.Float32, device).expand(batch);
        if (t.dim() == 1 && t.shape[0] == batch) return t.to(ScalarType.Float32, device);
        throw new DiffusionException($"Timesteps must have shape ({batch}) to match the batch, or be a scalar; got ({string.Join(", ", t.shape)}).");
    }

    /// <summary>Checks the context and its mask against the batch and <see cref="UNetOptions.CrossAttentionDim"/> and
    /// prepares them for the cross-attention layers (in <paramref name="dtype"/> on <paramref name="device"/>).</summary>
    private static CrossContext ContextFor(Condition condition, int contextDim, long batch, Device device, ScalarType dtype)
    {
        var context = condition.Require(Condition.Fields.Context, $"This cross-attention UNet (CrossAttentionDim {contextDim})");
        if (context.dim() != 3 || context.shape[0] != batch || context.shape[2] != contextDim)
            throw new DiffusionException(
                $"The condition field {Condition.Fields.Context} must have shape ({batch}, L, {contextDim}) (batch, tokens, CrossAttentionDim) " +
                $"but got ({string.Join(", ", context.shape)}); give one row per image and vectors of the width the model was built for.");
        if (!context.is_floating_point())
            throw new DiffusionException($"The condition field {Condition.Fields.Context} must be floating-point, got {context.dtype}.");
        var mask = condition.ContextMask;
        if (mask is not null)
        {
            if (mask.dim() != 2 || mask.shape[0] != batch || mask.shape[1] != context.shape[1])
                throw new DiffusionException(
                    $"The condition field {Condition.Fields.ContextMask} must have shape ({batch}, {context.shape[1]}) to match the context " +
                    $"({string.Join(", ", context.shape)}), got ({string.Join(", ", mask.shape)}).");
            if (mask.dtype != ScalarType.Bool)
                throw new DiffusionException($"The condition field {Condition.Fields.ContextMask} must be bool (true = real token), got {mask.dtype}.");
        }
        return CrossContext.Create(context.to(dtype, device), mask?.to(device));
    }

    private Tensor EmbedLabels(Tensor? labels, long batch, Device device)
    {
        int classes = Options.NumClasses!.Value;
        if (labels is null) return _classEmbedding!.call(full(new[] { batch }, classes, dtype: ScalarType.Int64, device: device));
        if (labels.dim() != 1 || labels.shape[0] != batch)
            throw new DiffusionException($"Class labels must have shape ({batch}) to match the batch, got ({string.Join(", ", labels.shape)}).");
        if (labels.is_floating_point())
            throw new DiffusionException($"Class labels must be integers (int64), got {labels.dtype}.");
        try
        {
            return _classEmbedding!.call(labels.to(ScalarType.Int64, device));
        }
        catch (ExternalException e)
        {
            throw new DiffusionException($"Class labels must be in [0, {classes}] ({classes} = no class) for this {classes}-class model.", e);
        }
    }
}
