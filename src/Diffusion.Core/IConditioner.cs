using Diffusion.Core.Training;
using static TorchSharp.torch;

namespace Diffusion.Core;

/// <summary>
/// Turns what a user asks for (a class, a caption, an image) into a <see cref="Condition"/> for a denoiser, encodes
/// the raw inputs of a training batch inside the training step, and knows what "nothing asked for" looks like, which
/// classifier-free guidance needs.
/// </summary>
public interface IConditioner
{
    /// <summary>
    /// The unconditional counterpart of <paramref name="conditional"/>, row for row: the fields guidance drops (a
    /// label, a text) are replaced by their null values, the fields that must stay (a ControlNet hint, an inpainting
    /// mask) are kept as they are (the same tensors).
    /// </summary>
    /// <exception cref="DiffusionException">The condition lacks what this conditioner needs to derive its null rows.</exception>
    Condition Unconditional(Condition conditional);

    /// <summary>The condition meaning "no condition" for <paramref name="batch"/> rows, when there is no conditional
    /// one to derive it from (sampling the unconditional model of a conditional network).</summary>
    Condition Unconditional(int batch, Device device);

    /// <summary>Encodes the raw inputs of a training batch (labels, captions, …) on <paramref name="device"/>; called in
    /// every training step, so a text encoder runs per batch.</summary>
    /// <exception cref="DiffusionException">The batch lacks the inputs this conditioner encodes.</exception>
    Condition EncodeBatch(TrainingBatch batch, Device device);

    /// <summary>
    /// Replaces each row of <paramref name="condition"/> by the unconditional one with probability
    /// <paramref name="probability"/>, so one network also learns the unconditional model
    /// (Ho &amp; Salimans 2022, Algorithm 1). <see cref="ConditionDropout.Drop"/> does it for any conditioner.
    /// </summary>
    Condition DropForTraining(Condition condition, double probability, Generator generator);
}

/// <summary>An <see cref="IConditioner"/> that encodes user inputs of type <typeparamref name="TInput"/>.</summary>
/// <typeparam name="TInput">A class index, a caption, an image, …</typeparam>
public interface IConditioner<in TInput> : IConditioner
{
    /// <summary>Encodes one input per batch row.</summary>
    /// <exception cref="DiffusionException">An input is not valid for this conditioner.</exception>
    Condition Encode(IReadOnlyList<TInput> inputs, Device device);
}

/// <summary>Condition dropout for classifier-free guidance, the same for every conditioner and every field.</summary>
public static class ConditionDropout
{
    /// <summary>
    /// Draws one Bernoulli(<paramref name="probability"/>) per row from <paramref name="generator"/> and, in the rows
    /// drawn, replaces every field that <paramref name="conditioner"/>'s <see cref="IConditioner.Unconditional(Condition)"/>
    /// changes by its null value; fields it keeps stay untouched. Contexts of different lengths are padded to one
    /// (<see cref="Condition.PadContexts"/>).
    /// </summary>
    /// <exception cref="DiffusionException"><paramref name="probability"/> is outside [0, 1].</exception>
    public static Condition Drop(IConditioner conditioner, Condition condition, double probability, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(conditioner);
        ArgumentNullException.ThrowIfNull(condition);
        if (!(probability >= 0 && probability <= 1)) throw new DiffusionException($"Condition dropout must be in [0, 1], got {probability}.");
        if (probability == 0 || condition.BatchSize is not long b) return condition;
        var unconditional = conditioner.Unconditional(condition);
        (condition, unconditional) = Condition.PadContexts(condition, unconditional); // row-wise mixing needs one context length
        var drop = rand(new[] { b }, generator: generator) < probability; // (B) bool, drawn on the CPU
        return unconditional.Map((name, u) =>
        {
            var c = condition[name];
            if (c is null || ReferenceEquals(c, u)) return c ?? u;
            var shape = new long[u.dim()];
            Array.Fill(shape, 1L);
            shape[0] = b;
            return where(drop.to(u.device).reshape(shape), u, c); // (B, …)
        });
    }
}
