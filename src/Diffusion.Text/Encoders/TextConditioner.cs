using Diffusion.Core;
using Diffusion.Core.Training;
using Diffusion.Text.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Text.Encoders;

/// <summary>
/// Conditions on captions: a tokenizer and a text encoder turn each caption into a <see cref="Condition"/> with
/// <see cref="Condition.Fields.Context"/> (the encoder's hidden states, (B, L, D)), <see cref="Condition.Fields.ContextMask"/>
/// (true at real tokens, bool (B, L)) and, unless switched off, <see cref="Condition.Fields.TextEmbedding"/> (the pooled
/// vector, (B, D)).
/// </summary>
/// <remarks>
/// <para>The empty prompt is the unconditional condition: <see cref="Unconditional(Condition)"/> replaces the text fields
/// of every row by the encoding of "" (BOS EOS), as Stable Diffusion does, and keeps every other field. Classifier-free
/// guidance dropout (<see cref="DropForTraining"/>) therefore teaches the network what the empty prompt means.</para>
/// <para>A trainable encoder (<see cref="ITextEncoder.Trainable"/>) runs with gradients, so the diffusion loss reaches its
/// parameters, and its empty-prompt encoding is recomputed in every call; a frozen one runs under <c>no_grad</c>. The
/// encoder must already be on the device the conditions are asked for.</para>
/// </remarks>
public sealed class TextConditioner : IConditioner<string>
{
    private static readonly string[] TextFields = [Condition.Fields.Context, Condition.Fields.ContextMask, Condition.Fields.TextEmbedding];

    /// <summary>Pairs <paramref name="tokenizer"/> with <paramref name="encoder"/>.</summary>
    /// <param name="tokenizer">Makes the token rows; its rows must fit the encoder's positions and vocabulary.</param>
    /// <param name="encoder">Encodes them.</param>
    /// <param name="includePooled">Whether conditions carry <see cref="Condition.Fields.TextEmbedding"/> (a denoiser that does
    /// not read it rejects conditions that set it).</param>
    /// <exception cref="DiffusionException">The tokenizer's rows are longer than the encoder's positions.</exception>
    public TextConditioner(ITextTokenizer tokenizer, ITextEncoder encoder, bool includePooled = true)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(encoder);
        if (tokenizer.MaxLength > encoder.MaxLength)
            throw new DiffusionException($"The tokenizer makes rows of {tokenizer.MaxLength} tokens but the text encoder has {encoder.MaxLength} positions.");
        Tokenizer = tokenizer;
        Encoder = encoder;
        IncludePooled = includePooled;
    }

    /// <summary>The tokenizer.</summary>
    public ITextTokenizer Tokenizer { get; }

    /// <summary>The text encoder.</summary>
    public ITextEncoder Encoder { get; }

    /// <summary>Whether conditions carry the pooled <see cref="Condition.Fields.TextEmbedding"/>.</summary>
    public bool IncludePooled { get; }

    /// <summary>The fields this conditioner sets.</summary>
    public IReadOnlyList<string> Fields => IncludePooled ? TextFields : TextFields[..2];

    /// <inheritdoc />
    /// <exception cref="DiffusionException">A caption is null.</exception>
    public Condition Encode(IReadOnlyList<string> inputs, Device device)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Any(s => s is null)) throw new DiffusionException("A caption is null; use \"\" for the unconditional (empty) prompt.");
        using var scope = NewDisposeScope();
        using var grad = Encoder.Trainable ? null : no_grad();
        var tokens = Tokenizer.Encode(inputs, device);
        var encoding = Encoder.Encode(tokens.Ids, tokens.Mask);
        var condition = new Condition
        {
            Context = encoding.Hidden.MoveToOuterDisposeScope(),
            ContextMask = tokens.Mask.MoveToOuterDisposeScope(),
        };
        return IncludePooled ? condition.With(Condition.Fields.TextEmbedding, encoding.Pooled.MoveToOuterDisposeScope()) : condition;
    }

    /// <inheritdoc />
    /// <remarks>The empty prompt's encoding, repeated <paramref name="batch"/> times.</remarks>
    public Condition Unconditional(int batch, Device device)
    {
        if (batch < 1) throw new DiffusionException($"An unconditional batch needs at least one row, got {batch}.");
        return Encode(Enumerable.Repeat("", batch).ToArray(), device);
    }

    /// <inheritdoc />
    /// <remarks>Replaces <see cref="Condition.Fields.Context"/>, <see cref="Condition.Fields.ContextMask"/> and
    /// <see cref="Condition.Fields.TextEmbedding"/> in every row by the empty prompt's, and keeps every other field.</remarks>
    /// <exception cref="DiffusionException">The condition has no context, so it was not made by a text conditioner.</exception>
    public Condition Unconditional(Condition conditional)
    {
        ArgumentNullException.ThrowIfNull(conditional);
        var context = conditional.Require(Condition.Fields.Context, "A text conditioner's Unconditional");
        long b = context.shape[0];
        var empty = Encode([""], context.device); // one row, expanded to B below
        var result = conditional;
        foreach (var name in Fields)
        {
            var row = empty[name]!;
            var shape = row.shape.ToArray();
            shape[0] = b;
            result = result.With(name, row.expand(shape));
        }
        return result;
    }

    /// <inheritdoc />
    /// <exception cref="DiffusionException">The batch has no captions.</exception>
    public Condition EncodeBatch(TrainingBatch batch, Device device)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var captions = batch.Captions ?? throw new DiffusionException("A text-conditional model needs captioned training data; this dataset has no captions (wrap it in a CaptionedImageDataset).");
        if (captions.Count != batch.Images.shape[0])
            throw new DiffusionException($"The batch has {batch.Images.shape[0]} images but {captions.Count} captions.");
        return Encode(captions, device);
    }

    /// <inheritdoc />
    public Condition DropForTraining(Condition condition, double probability, Generator generator)
        => ConditionDropout.Drop(this, condition, probability, generator);
}
