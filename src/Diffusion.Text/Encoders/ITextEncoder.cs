using static TorchSharp.torch;

namespace Diffusion.Text.Encoders;

/// <summary>A text encoder network: token ids and their mask in, one vector per token and one pooled vector per text out.</summary>
public interface ITextEncoder
{
    /// <summary>D, the width of the hidden states and of the pooled vector.</summary>
    int HiddenSize { get; }

    /// <summary>The longest token row the encoder takes (its position embeddings).</summary>
    int MaxLength { get; }

    /// <summary>True when the encoder's parameters are meant to train with the diffusion model; false for a frozen,
    /// pretrained encoder (run under <c>no_grad</c>).</summary>
    bool Trainable { get; }

    /// <summary>Encodes a batch of token rows.</summary>
    /// <param name="ids">Token ids, int64 (B, L), L ≤ <see cref="MaxLength"/>.</param>
    /// <param name="mask">True at real tokens, bool (B, L).</param>
    /// <returns>Hidden states (B, L, D) and pooled vectors (B, D), in the caller's dispose scope.</returns>
    TextEncoding Encode(Tensor ids, Tensor mask);
}

/// <summary>What a text encoder returns.</summary>
/// <param name="Hidden">One vector per token, (B, L, D).</param>
/// <param name="Pooled">One vector per text, (B, D).</param>
public sealed record TextEncoding(Tensor Hidden, Tensor Pooled);
