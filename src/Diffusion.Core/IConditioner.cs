using static TorchSharp.torch;

namespace Diffusion.Core;

/// <summary>
/// Turns what a user asks for (a class, a caption, an image) into a <see cref="Condition"/> for a
/// denoiser, and knows what "nothing asked for" looks like, which classifier-free guidance needs.
/// </summary>
public interface IConditioner
{
    /// <summary>The condition meaning "no condition", for <paramref name="batch"/> rows.</summary>
    Condition Unconditional(int batch, Device device);

    /// <summary>
    /// Replaces each row of <paramref name="condition"/> by the unconditional one with probability
    /// <paramref name="probability"/>, so one network also learns the unconditional model
    /// (Ho &amp; Salimans 2022, Algorithm 1).
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
