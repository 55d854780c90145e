using Diffusion.Core;
using Diffusion.Core.Data;
using Diffusion.Models;
using Diffusion.Text.Captions;
using Diffusion.Text.Encoders;
using Diffusion.Text.Tokenizers;
using static TorchSharp.torch;

namespace Diffusion.Pipelines.Training;

/// <summary>The text side of a text-conditioned run: captions, tokenizer, encoder, the network the trainer trains and the
/// split of its EMA weights into UNet and text encoder.</summary>
public static class TextRuns
{
    /// <summary>The learned encoder's width unless run.json says otherwise: small next to the 0.6 M-parameter UNet.</summary>
    public const int LearnedWidth = 128;

    /// <summary>The state-dict prefixes of <see cref="DenoiserWithTextEncoder"/>.</summary>
    private const string DenoiserPrefix = "denoiser.", TextPrefix = "text_encoder.";

    /// <summary>The label captions of the run's dataset.</summary>
    /// <exception cref="DiffusionException">The dataset has no label captions.</exception>
    public static LabelCaptions Captions(RunOptions options) => LabelCaptions.For(Text(options).Captions ?? options.Dataset);

    /// <summary><paramref name="options"/> with the text encoder <paramref name="encoder"/>: the learned encoder's options
    /// (vocabulary of the training captions), and the UNet's cross-attention dimension set to the encoder's width.</summary>
    /// <exception cref="DiffusionException">The run is not text-conditioned or the encoder is unknown.</exception>
    public static RunOptions WithEncoder(RunOptions options, string encoder)
    {
        ArgumentNullException.ThrowIfNull(options);
        var text = options.Text ?? throw new DiffusionException($"Preset '{options.Preset}' is not text-conditioned; --text-encoder needs a text preset (mnist-text, fashion-text).");
        encoder = encoder.Trim().ToLowerInvariant();
        if (!TextOptions.Encoders.Contains(encoder) && !PretrainedTextEncoders.IsRegistered(encoder))
            throw new DiffusionException($"Unknown text encoder '{encoder}'. Valid: {string.Join(", ", TextOptions.Encoders)}.");
        text = text with
        {
            Encoder = encoder,
            LearnedEncoder = encoder == TextOptions.Learned
                ? (text.LearnedEncoder ?? new TextTransformerOptions { HiddenSize = LearnedWidth }) with
                {
                    VocabularySize = Tokenizer(options with { Text = text }).VocabularySize, MaxLength = text.MaxLength,
                }
                : null,
        };
        return options with { Text = text, Model = options.Model with { CrossAttentionDim = text.ContextWidth() } };
    }

    /// <summary>The learned encoder's word tokenizer: every word of the training phrasings of every class (the held-out
    /// phrasings' new words become &lt;unk&gt;).</summary>
    public static WordTokenizer Tokenizer(RunOptions options, IProgress<string>? warnings = null)
    {
        var captions = Captions(options);
        var all = Enumerable.Range(0, captions.Classes).SelectMany(captions.TrainingPhrasings);
        return WordTokenizer.Build(all, new WordTokenizerOptions { MaxLength = Text(options).MaxLength }, warnings);
    }

    /// <summary>A fresh learned encoder of the run's architecture.</summary>
    public static TextTransformer NewLearnedEncoder(RunOptions options)
        => new(Text(options).LearnedEncoder ?? throw new DiffusionException($"Run '{options.Preset}' has no learned text encoder options."));

    /// <summary>The run's text conditioner (context and mask, no pooled vector: the UNet reads only those). A pretrained
    /// encoder is wrapped in a <see cref="CachedTextEncoder"/> when <paramref name="cache"/> is set; the learned one is
    /// <paramref name="learned"/>.</summary>
    /// <exception cref="DiffusionException">A pretrained encoder is not registered, or a learned run gets no encoder.</exception>
    public static TextConditioner Conditioner(RunOptions options, TextTransformer? learned, bool cache, IProgress<string>? warnings = null)
    {
        var text = Text(options);
        if (text.Encoder == TextOptions.Learned)
            return new TextConditioner(Tokenizer(options, warnings), learned ?? throw new DiffusionException("A learned-encoder run needs its encoder."), includePooled: false);
        var pretrained = PretrainedTextEncoders.Get(text.Encoder).Create(text.MaxLength, false, warnings);
        return cache ? new TextConditioner(pretrained.Tokenizer, new CachedTextEncoder(pretrained.Encoder), includePooled: false) : pretrained;
    }

    /// <summary>What the trainer trains: the UNet, or the UNet and the learned encoder as one module.</summary>
    public static nn.Module<Tensor, Tensor, Condition, Tensor> TrainedNetwork(UNet unet, TextTransformer? learned)
        => learned is null ? unet : new DenoiserWithTextEncoder(unet, learned);

    /// <summary>Splits weights by module: the UNet's, and the learned encoder's (null for a pretrained encoder, whose
    /// network is the bare UNet).</summary>
    public static (IReadOnlyDictionary<string, Tensor> Unet, IReadOnlyDictionary<string, Tensor>? Text) Split(RunOptions options, IReadOnlyDictionary<string, Tensor> weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (Text(options).Encoder != TextOptions.Learned) return (weights, null);
        var unet = weights.Where(kv => kv.Key.StartsWith(DenoiserPrefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[DenoiserPrefix.Length..], kv => kv.Value);
        var text = weights.Where(kv => kv.Key.StartsWith(TextPrefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[TextPrefix.Length..], kv => kv.Value);
        return (unet, text);
    }

    /// <summary>The images of <paramref name="data"/> captioned by the run's label captions, one seeded training phrasing
    /// per image (<see cref="CaptionChoice.PerExample"/>, so a resumed run trains exactly as an uninterrupted one).</summary>
    public static CaptionedImageDataset Captioned(RunOptions options, ImageDataset data)
        => CaptionedImageDataset.FromLabels(data, Captions(options), options.Training.Seed, ownsImages: false, CaptionChoice.PerExample);

    /// <summary>Preview prompts: one training phrasing of each class ("the numeral 7").</summary>
    public static IReadOnlyList<string> PreviewPrompts(RunOptions options)
    {
        var captions = Captions(options);
        return Enumerable.Range(0, captions.Classes).Select(c => captions.TrainingPhrasings(c)[^1]).ToArray();
    }

    private static TextOptions Text(RunOptions options) => options.Text ?? throw new DiffusionException($"Run '{options.Preset}' is not text-conditioned.");
}
