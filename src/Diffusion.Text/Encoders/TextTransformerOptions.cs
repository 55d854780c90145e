using Diffusion.Core;

namespace Diffusion.Text.Encoders;

/// <summary>The activation between a transformer layer's two MLP projections.</summary>
public enum TextActivation
{
    /// <summary>GELU, x·Φ(x) (Hendrycks &amp; Gimpel 2016), exact (erf) form.</summary>
    Gelu,
    /// <summary>CLIP's "quick GELU", x·σ(1.702·x).</summary>
    QuickGelu,
}

/// <summary>How a text transformer turns its per-token states into one vector per text.</summary>
public enum TextPooling
{
    /// <summary>The mean over real (unmasked) tokens.</summary>
    MaskedMean,
    /// <summary>The state at the position of the highest token id, which for CLIP's vocabulary is the end-of-text token
    /// (OpenAI's CLIP and Hugging Face's <c>CLIPTextModel</c> pool this way).</summary>
    HighestId,
}

/// <summary>
/// The shape of a <see cref="TextTransformer"/>: token and position embeddings, pre-LayerNorm transformer layers
/// (self-attention, then an MLP, each with a residual connection) and a final LayerNorm (Radford et al. 2019's GPT-2
/// layout, which CLIP's text tower uses). Immutable; values are checked when set.
/// </summary>
public sealed record TextTransformerOptions
{
    private readonly int _vocabularySize = 1000;
    private readonly int _maxLength = 32;
    private readonly int _hiddenSize = 128;
    private readonly int _layers = 2;
    private readonly int _heads = 4;
    private readonly int? _intermediateSize;
    private readonly double _layerNormEpsilon = 1e-5;

    /// <summary>Rows of the token embedding: the tokenizer's vocabulary size. At least 2; default 1000.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 2.</exception>
    public int VocabularySize
    {
        get => _vocabularySize;
        init => _vocabularySize = value >= 2 ? value : throw new ArgumentOutOfRangeException(nameof(VocabularySize), value, "The vocabulary needs at least 2 tokens.");
    }

    /// <summary>Rows of the position embedding: the longest token row. At least 1; default 32 (CLIP: 77).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1.</exception>
    public int MaxLength
    {
        get => _maxLength;
        init => _maxLength = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(MaxLength), value, "MaxLength must be at least 1.");
    }

    /// <summary>D, the width of every token state. At least 1, divisible by <see cref="Heads"/>; default 128 (CLIP ViT-B/32: 512).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1.</exception>
    public int HiddenSize
    {
        get => _hiddenSize;
        init => _hiddenSize = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(HiddenSize), value, "HiddenSize must be at least 1.");
    }

    /// <summary>Number of transformer layers. At least 1; default 2 (CLIP: 12).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1.</exception>
    public int Layers
    {
        get => _layers;
        init => _layers = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(Layers), value, "Layers must be at least 1.");
    }

    /// <summary>Attention heads per layer; must divide <see cref="HiddenSize"/>. Default 4 (CLIP ViT-B/32: 8).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1.</exception>
    public int Heads
    {
        get => _heads;
        init => _heads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(Heads), value, "Heads must be at least 1.");
    }

    /// <summary>Width of the MLP's hidden layer; null for 4 × <see cref="HiddenSize"/> (CLIP's ratio). Default null.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1.</exception>
    public int? IntermediateSize
    {
        get => _intermediateSize;
        init => _intermediateSize = value is null or >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(IntermediateSize), value, "IntermediateSize must be at least 1 (or null).");
    }

    /// <summary>The MLP activation. Default <see cref="TextActivation.Gelu"/> (CLIP: <see cref="TextActivation.QuickGelu"/>).</summary>
    public TextActivation Activation { get; init; } = TextActivation.Gelu;

    /// <summary>True: each token attends only to itself and earlier tokens (CLIP's causal mask; padding after the end-of-text
    /// token then never reaches a real token). False (default): every token attends to every real token (a key-padding mask).</summary>
    public bool Causal { get; init; }

    /// <summary>How the pooled vector is made. Default <see cref="TextPooling.MaskedMean"/> (CLIP: <see cref="TextPooling.HighestId"/>).</summary>
    public TextPooling Pooling { get; init; } = TextPooling.MaskedMean;

    /// <summary>The epsilon of every LayerNorm. Positive; default 1e-5.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive.</exception>
    public double LayerNormEpsilon
    {
        get => _layerNormEpsilon;
        init => _layerNormEpsilon = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(LayerNormEpsilon), value, "LayerNormEpsilon must be positive.");
    }

    /// <summary>The MLP width in effect.</summary>
    public int MlpWidth => IntermediateSize ?? 4 * HiddenSize;

    /// <summary>Throws when the options do not fit together.</summary>
    /// <exception cref="DiffusionException"><see cref="Heads"/> does not divide <see cref="HiddenSize"/>.</exception>
    public void Validate()
    {
        if (HiddenSize % Heads != 0)
            throw new DiffusionException($"A text transformer's {Heads} heads must divide its hidden size {HiddenSize}.");
    }
}
