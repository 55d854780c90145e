using static TorchSharp.torch;

namespace Diffusion.Core;

/// <summary>
/// What a denoiser is conditioned on: a set of named tensors, each with the batch as its first dimension, produced
/// by an <see cref="IConditioner"/>. Batching, selection, device moves and dropout treat every field alike, whatever
/// its name, so a new kind of condition (a ControlNet hint, an inpainting mask, an image embedding) needs no change
/// here. <see cref="Fields"/> names the ones the SDK's models read. Tensors are owned by the caller's dispose scope.
/// </summary>
public sealed class Condition
{
    private readonly SortedDictionary<string, Tensor> _fields = new(StringComparer.Ordinal);

    /// <summary>No conditioning at all (an unconditional model).</summary>
    public static Condition None { get; } = new();

    /// <summary>An empty condition (see <see cref="None"/>); set fields with the init properties or <see cref="With"/>.</summary>
    public Condition() { }

    /// <summary>A condition holding <paramref name="fields"/>.</summary>
    /// <exception cref="DiffusionException">A field is null or the fields disagree on the batch size.</exception>
    public Condition(IEnumerable<KeyValuePair<string, Tensor>> fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        foreach (var (name, value) in fields) Set(name, value);
    }

    /// <summary>The names of the fields the SDK's models and conditioners use.</summary>
    public static class Fields
    {
        /// <summary>Class labels, int64 (B); the value <c>classes</c> (one past the last class) means "no class".</summary>
        public const string Labels = "labels";
        /// <summary>A sequence of context vectors for cross-attention, (B, L, D).</summary>
        public const string Context = "context";
        /// <summary>Which context positions are real (true) rather than padding, bool (B, L).</summary>
        public const string ContextMask = "context_mask";
        /// <summary>A spatial hint image for ControlNet, (B, C, H, W).</summary>
        public const string ImageHint = "image_hint";
        /// <summary>An inpainting mask, (B, 1, H, W), 1 where the picture is to be generated.</summary>
        public const string Mask = "mask";
        /// <summary>A pooled image embedding, (B, D).</summary>
        public const string ImageEmbedding = "image_embedding";
        /// <summary>A pooled text embedding (one vector per caption, e.g. CLIP's hidden state at the end-of-text token), (B, D).</summary>
        public const string TextEmbedding = "text_embedding";
    }

    /// <summary>Class labels (<see cref="Fields.Labels"/>), or null.</summary>
    public Tensor? Labels { get => this[Fields.Labels]; init => Set(Fields.Labels, value); }

    /// <summary>Cross-attention context (<see cref="Fields.Context"/>), or null.</summary>
    public Tensor? Context { get => this[Fields.Context]; init => Set(Fields.Context, value); }

    /// <summary>Context padding mask (<see cref="Fields.ContextMask"/>), or null.</summary>
    public Tensor? ContextMask { get => this[Fields.ContextMask]; init => Set(Fields.ContextMask, value); }

    /// <summary>The field called <paramref name="name"/>, or null.</summary>
    public Tensor? this[string name] => _fields.TryGetValue(name, out var t) ? t : null;

    /// <summary>The names of the fields that are set, in ordinal order.</summary>
    public IReadOnlyCollection<string> Names => _fields.Keys;

    /// <summary>The fields that are set.</summary>
    public IEnumerable<KeyValuePair<string, Tensor>> All => _fields;

    /// <summary>True when no field is set.</summary>
    public bool IsEmpty => _fields.Count == 0;

    /// <summary>The batch size shared by every field, or null when no field is set.</summary>
    public long? BatchSize => _fields.Count == 0 ? null : _fields.First().Value.shape[0];

    /// <summary>A copy with <paramref name="name"/> set to <paramref name="value"/> (removed when null).</summary>
    /// <exception cref="DiffusionException">The value's batch size differs from the other fields'.</exception>
    public Condition With(string name, Tensor? value)
    {
        var c = new Condition(_fields.Where(kv => kv.Key != name));
        c.Set(name, value);
        return c;
    }

    /// <summary>Applies <paramref name="map"/> to every field.</summary>
    public Condition Map(Func<string, Tensor, Tensor> map)
    {
        ArgumentNullException.ThrowIfNull(map);
        return new Condition(_fields.Select(kv => KeyValuePair.Create(kv.Key, map(kv.Key, kv.Value))));
    }

    /// <summary>
    /// Stacks two conditions along the batch dimension (first <paramref name="a"/>, then <paramref name="b"/>),
    /// as classifier-free guidance does to run the conditional and unconditional passes in one call. Contexts of
    /// different lengths are padded first (<see cref="PadContexts"/>).
    /// </summary>
    /// <exception cref="DiffusionException">One condition sets a field the other lacks, or a field's shapes differ
    /// beyond the batch dimension.</exception>
    public static Condition Concat(Condition a, Condition b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        (a, b) = PadContexts(a, b);
        var only = a.Names.Except(b.Names).Concat(b.Names.Except(a.Names)).Order(StringComparer.Ordinal).ToList();
        if (only.Count > 0)
            throw new DiffusionException($"Cannot batch two conditions when only one sets {string.Join(", ", only)}.");
        return a.Map((name, x) =>
        {
            var y = b[name]!;
            if (x.dim() != y.dim() || !x.shape.Skip(1).SequenceEqual(y.shape.Skip(1)))
                throw new DiffusionException(
                    $"Cannot batch two conditions whose field {name} has shapes ({string.Join(", ", x.shape)}) and ({string.Join(", ", y.shape)}); only the batch dimension may differ.");
            return cat(new[] { x, y.to(x.device) }, 0);
        });
    }

    /// <summary>
    /// Brings the contexts (<see cref="Fields.Context"/>, (B, L, D)) of two conditions to one length so that they can be
    /// batched or mixed row by row: the shorter is padded with zero vectors, and both get a <see cref="Fields.ContextMask"/>
    /// (all true where a condition had none) that marks the padding false, so a model that honours the mask sees the same
    /// tokens as before. Conditions without a context on either side, or with contexts of one length and masks on both or
    /// neither side, are returned as they are.
    /// </summary>
    public static (Condition A, Condition B) PadContexts(Condition a, Condition b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Context is not { } ca || b.Context is not { } cb || ca.dim() != 3 || cb.dim() != 3) return (a, b);
        bool sameLength = ca.shape[1] == cb.shape[1];
        if (sameLength && (a.ContextMask is null) == (b.ContextMask is null)) return (a, b);
        long length = Math.Max(ca.shape[1], cb.shape[1]);
        return (PadContext(a, length), PadContext(b, length));
    }

    private static Condition PadContext(Condition c, long length)
    {
        var context = c.Context!;
        long batch = context.shape[0], tokens = context.shape[1];
        var mask = c.ContextMask ?? ones(new[] { batch, tokens }, dtype: ScalarType.Bool, device: context.device); // (B, L)
        if (tokens < length && mask.dim() == 2)
        {
            context = nn.functional.pad(context, new long[] { 0, 0, 0, length - tokens }); // (B, length, D)
            mask = cat(new[] { mask, zeros(new[] { batch, length - tokens }, dtype: ScalarType.Bool, device: mask.device) }, 1); // (B, length)
        }
        return c.With(Fields.Context, context).With(Fields.ContextMask, mask);
    }

    /// <summary>Selects batch rows <paramref name="index"/> (int64, shape (K)) of every field.</summary>
    public Condition Select(Tensor index) => Map((_, x) => x.index_select(0, index.to(x.device)));

    /// <summary>Moves every field to <paramref name="device"/>.</summary>
    public Condition To(Device device) => Map((_, x) => x.to(device));

    /// <summary>Throws when the condition sets a field that <paramref name="known"/> does not list, naming it, so a
    /// denoiser never silently ignores a condition it was not built for.</summary>
    /// <param name="known">The fields the model reads.</param>
    /// <param name="model">The model, for the message, e.g. "This UNet".</param>
    /// <exception cref="DiffusionException">An unknown field is set.</exception>
    public void RequireOnly(IReadOnlyCollection<string> known, string model)
    {
        ArgumentNullException.ThrowIfNull(known);
        var unknown = Names.Where(n => !known.Contains(n)).ToList();
        if (unknown.Count == 0) return;
        string reads = known.Count == 0 ? "no condition" : string.Join(", ", known);
        throw new DiffusionException($"{model} was not built for the condition field{(unknown.Count > 1 ? "s" : "")} {string.Join(", ", unknown)}; it reads {reads}.");
    }

    /// <summary>Throws when <paramref name="name"/> is not set, naming it.</summary>
    /// <exception cref="DiffusionException">The field is missing.</exception>
    public Tensor Require(string name, string model)
        => this[name] ?? throw new DiffusionException($"{model} needs the condition field {name}, which is not set (fields set: {(IsEmpty ? "none" : string.Join(", ", Names))}).");

    private void Set(string name, Tensor? value)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (value is null) { _fields.Remove(name); return; }
        if (value.dim() == 0) throw new DiffusionException($"Condition field {name} must have the batch as its first dimension, got a scalar.");
        foreach (var (other, t) in _fields)
            if (other != name && t.shape[0] != value.shape[0])
                throw new DiffusionException($"Condition fields disagree on the batch size: {other} has {t.shape[0]} rows, {name} has {value.shape[0]}.");
        _fields[name] = value;
    }
}
