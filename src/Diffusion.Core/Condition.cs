using static TorchSharp.torch;

namespace Diffusion.Core;

/// <summary>
/// What a denoiser is conditioned on, produced by an <see cref="IConditioner"/>. Every field is
/// optional; a model uses the ones it was built for. Tensors are owned by the caller's dispose scope.
/// </summary>
public sealed class Condition
{
    /// <summary>No conditioning at all (an unconditional model).</summary>
    public static Condition None { get; } = new();

    /// <summary>Class labels, int64, shape (B). The value <c>classes</c> (one past the last class) means "no class".</summary>
    public Tensor? Labels { get; init; }

    /// <summary>A sequence of context vectors for cross-attention, shape (B, L, D).</summary>
    public Tensor? Context { get; init; }

    /// <summary>Which context positions are real (true) rather than padding, bool, shape (B, L).</summary>
    public Tensor? ContextMask { get; init; }

    /// <summary>True when no field is set.</summary>
    public bool IsEmpty => Labels is null && Context is null && ContextMask is null;

    /// <summary>
    /// Stacks two conditions along the batch dimension (first <paramref name="a"/>, then <paramref name="b"/>),
    /// as classifier-free guidance does to run the conditional and unconditional passes in one call.
    /// </summary>
    /// <exception cref="DiffusionException">One condition sets a field the other lacks.</exception>
    public static Condition Concat(Condition a, Condition b) => new()
    {
        Labels = CatField(a.Labels, b.Labels, nameof(Labels)),
        Context = CatField(a.Context, b.Context, nameof(Context)),
        ContextMask = CatField(a.ContextMask, b.ContextMask, nameof(ContextMask)),
    };

    /// <summary>Selects batch rows <paramref name="index"/> (int64, shape (K)) of every field.</summary>
    public Condition Select(Tensor index) => new()
    {
        Labels = Labels?.index_select(0, index),
        Context = Context?.index_select(0, index),
        ContextMask = ContextMask?.index_select(0, index),
    };

    /// <summary>Moves every field to <paramref name="device"/>.</summary>
    public Condition To(Device device) => new()
    {
        Labels = Labels?.to(device),
        Context = Context?.to(device),
        ContextMask = ContextMask?.to(device),
    };

    private static Tensor? CatField(Tensor? x, Tensor? y, string name)
    {
        if (x is null && y is null) return null;
        if (x is null || y is null)
            throw new DiffusionException($"Cannot batch two conditions when only one sets {name}.");
        return cat(new[] { x, y }, 0);
    }
}
