using Diffusion.Core;
using Diffusion.Core.Components;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Text.Encoders;

/// <summary>
/// A transformer text encoder in TorchSharp: token + position embeddings, <see cref="TextTransformerOptions.Layers"/>
/// pre-LayerNorm layers with scaled-dot-product attention under a key-padding (or causal) mask, and a final LayerNorm.
/// Built small and untrained, it is the learned text encoder that trains with the diffusion model; with CLIP's options
/// it is CLIP's text tower (<see cref="Clip.ClipTextModel"/> wraps it).
/// </summary>
/// <remarks>Keys follow Hugging Face's <c>CLIPTextTransformer</c>: <c>embeddings.token_embedding</c>,
/// <c>embeddings.position_embedding</c>, <c>encoder.layers.N.*</c>, <c>final_layer_norm</c>.</remarks>
public sealed class TextTransformer : nn.Module<Tensor, Tensor, Tensor>, ITextEncoder
{
    /// <summary>The <c>_class_name</c> of a saved learned encoder.</summary>
    public const string ClassName = "TextTransformer";

    [ComponentName(Name = "embeddings")]
    private readonly TextEmbeddings _embeddings;

    [ComponentName(Name = "encoder")]
    private readonly TextLayers _encoder;

    [ComponentName(Name = "final_layer_norm")]
    private readonly LayerNorm _finalNorm;

    /// <summary>Builds the encoder with freshly drawn weights: embeddings and projection matrices from N(0, 0.02²), biases 0,
    /// LayerNorms 1 and 0 (GPT-2's and CLIP's initialisation scale).</summary>
    /// <param name="options">The shape (validated).</param>
    /// <param name="generator">Draws the initial weights; null uses the global generator.</param>
    /// <exception cref="DiffusionException">The options do not fit together.</exception>
    public TextTransformer(TextTransformerOptions options, Generator? generator = null) : base(nameof(TextTransformer))
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _embeddings = new TextEmbeddings(options.VocabularySize, options.MaxLength, options.HiddenSize);
        _encoder = new TextLayers(options);
        _finalNorm = nn.LayerNorm(options.HiddenSize, options.LayerNormEpsilon);
        RegisterComponents();
        using var noGrad = no_grad();
        foreach (var (name, p) in named_parameters())
        {
            if (p.dim() >= 2) p.normal_(0, 0.02, generator);
            else if (!name.Contains("layer_norm", StringComparison.Ordinal)) p.zero_();
        }
    }

    /// <summary>The shape of this encoder.</summary>
    public TextTransformerOptions Options { get; }

    /// <inheritdoc />
    public int HiddenSize => Options.HiddenSize;

    /// <inheritdoc />
    public int MaxLength => Options.MaxLength;

    /// <inheritdoc />
    /// <remarks>True while any parameter requires gradients; <see cref="Freeze"/> makes it false.</remarks>
    public bool Trainable => parameters().Any(p => p.requires_grad);

    /// <summary>Stops gradients to every parameter and switches to evaluation mode (a frozen, pretrained encoder).</summary>
    public void Freeze()
    {
        foreach (var p in parameters()) p.requires_grad = false;
        eval();
    }

    /// <summary>The final hidden states, (B, L, D), for token ids int64 (B, L) and their bool mask (B, L).</summary>
    /// <exception cref="DiffusionException">The rows are longer than <see cref="MaxLength"/> or the shapes disagree.</exception>
    public override Tensor forward(Tensor ids, Tensor mask)
    {
        if (ids.dim() != 2 || !ids.shape.SequenceEqual(mask.shape))
            throw new DiffusionException($"A text encoder takes ids and a mask of the same shape (B, L), got ({string.Join(", ", ids.shape)}) and ({string.Join(", ", mask.shape)}).");
        long b = ids.shape[0], l = ids.shape[1];
        if (l > MaxLength) throw new DiffusionException($"Token rows of {l} exceed this text encoder's {MaxLength} positions; truncate them (the tokenizer's MaxLength).");
        using var scope = NewDisposeScope();
        var x = _embeddings.call(ids); // (B, L, D)
        var attend = Options.Causal
            ? ones(new[] { l, l }, ScalarType.Bool, ids.device).tril().view(1, 1, l, l) // (1, 1, L, L): key ≤ query
            : mask.to(ScalarType.Bool).view(b, 1, 1, l);                                  // (B, 1, 1, L): real keys
        x = _encoder.call(x, attend);
        return _finalNorm.call(x).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public TextEncoding Encode(Tensor ids, Tensor mask)
    {
        using var scope = NewDisposeScope();
        var hidden = call(ids, mask); // (B, L, D)
        var pooled = Pool(hidden, ids, mask);
        return new TextEncoding(hidden.MoveToOuterDisposeScope(), pooled.MoveToOuterDisposeScope());
    }

    /// <summary>One vector per row of <paramref name="hidden"/> (B, L, D) by <see cref="TextTransformerOptions.Pooling"/>, (B, D).</summary>
    public Tensor Pool(Tensor hidden, Tensor ids, Tensor mask)
    {
        using var scope = NewDisposeScope();
        long b = hidden.shape[0], d = hidden.shape[2];
        Tensor pooled;
        if (Options.Pooling == TextPooling.HighestId)
        {
            var at = ids.argmax(1).view(b, 1, 1).expand(b, 1, d); // (B, 1, D): the first position of each row's highest id
            pooled = hidden.gather(1, at).squeeze(1);              // (B, D)
        }
        else
        {
            var m = mask.to(hidden.dtype).unsqueeze(-1);           // (B, L, 1)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1);  // (B, D)
        }
        return pooled.MoveToOuterDisposeScope();
    }

    /// <summary>Writes <c>config.json</c> and the weights (<see cref="ComponentWeights"/>) into <paramref name="folder"/>
    /// (a model folder's <c>text_encoder/</c>).</summary>
    public void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        var o = Options;
        var json = ComponentConfig.New(ClassName);
        json["vocab_size"] = o.VocabularySize;
        json["max_position_embeddings"] = o.MaxLength;
        json["hidden_size"] = o.HiddenSize;
        json["num_hidden_layers"] = o.Layers;
        json["num_attention_heads"] = o.Heads;
        json["intermediate_size"] = o.IntermediateSize; // null: 4 × hidden_size
        json["hidden_act"] = o.Activation == TextActivation.QuickGelu ? "quick_gelu" : "gelu";
        json["causal"] = o.Causal;
        json["pooling"] = o.Pooling == TextPooling.HighestId ? "highest_id" : "masked_mean";
        json["layer_norm_eps"] = o.LayerNormEpsilon;
        ComponentConfig.Write(json, Path.Combine(folder, "config.json"));
        ComponentWeights.Save(this, folder);
    }

    /// <summary>Reads an encoder written by <see cref="Save"/> (strictly: unknown keys and mismatched tensors are errors).</summary>
    /// <exception cref="DiffusionException">A file is missing or does not match.</exception>
    public static TextTransformer Load(string folder)
    {
        var c = ComponentConfig.Read(Path.Combine(folder, "config.json"), "text encoder", ClassName);
        var options = new TextTransformerOptions
        {
            VocabularySize = c.RequiredInt("vocab_size"),
            MaxLength = c.RequiredInt("max_position_embeddings"),
            HiddenSize = c.RequiredInt("hidden_size"),
            Layers = c.RequiredInt("num_hidden_layers"),
            Heads = c.RequiredInt("num_attention_heads"),
            IntermediateSize = c.Int("intermediate_size"),
            Activation = ParseActivation(c.String("hidden_act"), c.Source),
            Causal = c.Bool("causal") ?? false,
            Pooling = c.String("pooling") switch
            {
                null or "masked_mean" => TextPooling.MaskedMean,
                "highest_id" => TextPooling.HighestId,
                var p => throw new DiffusionException($"{c.Source}: pooling '{p}' is not supported (supported: masked_mean, highest_id)."),
            },
            LayerNormEpsilon = c.Double("layer_norm_eps") ?? 1e-5,
        };
        c.EnsureAllRead();
        var model = new TextTransformer(options);
        try { ComponentWeights.Load(model, folder); }
        catch { model.Dispose(); throw; }
        return model;
    }

    internal static TextActivation ParseActivation(string? name, string source) => name switch
    {
        null or "gelu" => TextActivation.Gelu,
        "quick_gelu" => TextActivation.QuickGelu,
        _ => throw new DiffusionException($"{source}: hidden_act '{name}' is not supported (supported: gelu, quick_gelu)."),
    };
}

/// <summary>Token and position embeddings, summed (keys <c>token_embedding</c>, <c>position_embedding</c>).</summary>
internal sealed class TextEmbeddings : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "token_embedding")]
    private readonly Embedding _token;

    [ComponentName(Name = "position_embedding")]
    private readonly Embedding _position;

    public TextEmbeddings(long vocabulary, long positions, long dim) : base(nameof(TextEmbeddings))
    {
        _token = nn.Embedding(vocabulary, dim);
        _position = nn.Embedding(positions, dim);
        RegisterComponents();
    }

    /// <summary>ids int64 (B, L) → (B, L, D).</summary>
    public override Tensor forward(Tensor ids)
    {
        using var scope = NewDisposeScope();
        var positions = arange(ids.shape[1], dtype: ScalarType.Int64, device: ids.device); // (L)
        return (_token.call(ids) + _position.call(positions).unsqueeze(0)).MoveToOuterDisposeScope(); // (B, L, D)
    }
}

/// <summary>The stack of layers (key <c>layers.N</c>).</summary>
internal sealed class TextLayers : nn.Module<Tensor, Tensor, Tensor>
{
    [ComponentName(Name = "layers")]
    private readonly ModuleList<TextTransformerLayer> _layers;

    public TextLayers(TextTransformerOptions o) : base(nameof(TextLayers))
    {
        _layers = nn.ModuleList(Enumerable.Range(0, o.Layers).Select(_ => new TextTransformerLayer(o)).ToArray());
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        foreach (var layer in _layers) x = layer.call(x, attentionMask);
        return x.MoveToOuterDisposeScope();
    }
}
