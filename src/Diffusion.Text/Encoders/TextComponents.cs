using Diffusion.Core;
using Diffusion.Core.Components;
using Diffusion.Text.Clip;
using Diffusion.Text.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Text.Encoders;

/// <summary>
/// A <see cref="TextConditioner"/> in a model folder, in diffusers' layout: <c>tokenizer/</c> (a <see cref="WordTokenizer"/>,
/// or CLIP's <c>vocab.json</c> + <c>merges.txt</c>), <c>text_encoder/</c> (a <see cref="TextTransformer"/>, or a Hugging Face
/// <c>CLIPTextModel</c>) and <c>conditioner/config.json</c> naming both and whether the pooled vector is used.
/// </summary>
/// <remarks>A pretrained encoder from a package of its own (<see cref="IPretrainedTextEncoder"/>, e.g. MiniLM) is recorded,
/// not copied: <c>conditioner/config.json</c> names it (<c>pretrained_text_encoder</c>, <c>pretrained_model</c>,
/// <c>library</c>, <c>max_length</c>) and <c>text_encoder/config.json</c> says the same for readers of the layout; loading
/// asks <see cref="PretrainedTextEncoders"/> for it, so its package must be referenced and registered.</remarks>
public static class TextComponents
{
    /// <summary>The <c>_class_name</c> of the conditioner's config.</summary>
    public const string ClassName = "TextConditioner";
    /// <summary>The tokenizer's sub-folder.</summary>
    public const string TokenizerFolder = "tokenizer";
    /// <summary>The text encoder's sub-folder.</summary>
    public const string TextEncoderFolder = "text_encoder";
    /// <summary>The conditioner's sub-folder.</summary>
    public const string ConditionerFolder = "conditioner";

    private const string WordTokenizerClass = WordTokenizer.ClassName, ClipTokenizerClass = "CLIPTokenizer";
    private const string LearnedEncoderClass = TextTransformer.ClassName, ClipEncoderClass = "CLIPTextModel";

    /// <summary>Writes <paramref name="conditioner"/>'s three sub-folders into <paramref name="modelFolder"/>.</summary>
    /// <exception cref="DiffusionException">The tokenizer or encoder has no on-disk format here (e.g. MiniLM, which is
    /// loaded from its package).</exception>
    public static void Save(TextConditioner conditioner, string modelFolder)
    {
        ArgumentNullException.ThrowIfNull(conditioner);
        var inner = conditioner.Encoder is CachedTextEncoder cached ? cached.Inner : conditioner.Encoder;
        if (inner is IPretrainedTextEncoder pretrained)
        {
            SavePretrained(conditioner, pretrained, modelFolder);
            return;
        }
        string tokenizerClass = conditioner.Tokenizer switch
        {
            WordTokenizer w => Saved(() => w.Save(Path.Combine(modelFolder, TokenizerFolder)), WordTokenizerClass),
            ClipTokenizer c => Saved(() => c.Save(Path.Combine(modelFolder, TokenizerFolder)), ClipTokenizerClass),
            var other => throw new DiffusionException($"A {other.GetType().Name} cannot be saved in a model folder; known: WordTokenizer, ClipTokenizer."),
        };
        string encoderClass = inner switch
        {
            TextTransformer t => Saved(() => t.Save(Path.Combine(modelFolder, TextEncoderFolder)), LearnedEncoderClass),
            ClipTextModel c => Saved(() => c.Save(Path.Combine(modelFolder, TextEncoderFolder)), ClipEncoderClass),
            var other => throw new DiffusionException($"A {other.GetType().Name} cannot be saved in a model folder; known: TextTransformer, ClipTextModel."),
        };
        var json = ComponentConfig.New(ClassName);
        json["tokenizer_class"] = tokenizerClass;
        json["text_encoder_class"] = encoderClass;
        json["include_pooled"] = conditioner.IncludePooled;
        Directory.CreateDirectory(Path.Combine(modelFolder, ConditionerFolder));
        ComponentConfig.Write(json, Path.Combine(modelFolder, ConditionerFolder, "config.json"));
    }

    /// <summary>Reads a conditioner written by <see cref="Save"/>. A CLIP encoder comes back frozen, a learned one trainable.</summary>
    /// <param name="modelFolder">The model folder.</param>
    /// <param name="device">Where the encoder goes; null for the CPU.</param>
    /// <param name="warnings">Receives the tokenizer's truncation warning.</param>
    /// <exception cref="DiffusionException">A file is missing or malformed, or a class is unknown.</exception>
    public static TextConditioner Load(string modelFolder, Device? device = null, IProgress<string>? warnings = null)
    {
        var c = ComponentConfig.Read(Path.Combine(modelFolder, ConditionerFolder, "config.json"), "conditioner", ClassName);
        if (c.Has(PretrainedKey)) return LoadPretrained(c, warnings);
        string tokenizerDir = Path.Combine(modelFolder, TokenizerFolder), encoderDir = Path.Combine(modelFolder, TextEncoderFolder);
        ITextTokenizer tokenizer = c.String("tokenizer_class") switch
        {
            WordTokenizerClass => WordTokenizer.Load(tokenizerDir, warnings),
            ClipTokenizerClass => ClipTokenizer.Load(tokenizerDir, warnings),
            var other => throw new DiffusionException($"{c.Source}: unknown tokenizer_class '{other}'. Known: {WordTokenizerClass}, {ClipTokenizerClass}."),
        };
        string? encoderClass = c.String("text_encoder_class");
        bool includePooled = c.Bool("include_pooled") ?? true;
        c.EnsureAllRead();
        nn.Module encoder = encoderClass switch
        {
            LearnedEncoderClass => TextTransformer.Load(encoderDir),
            ClipEncoderClass => ClipTextModel.Load(encoderDir),
            _ => throw new DiffusionException($"{c.Source}: unknown text_encoder_class '{encoderClass}'. Known: {LearnedEncoderClass}, {ClipEncoderClass}."),
        };
        try
        {
            if (device is not null) encoder.to(device);
            return new TextConditioner(tokenizer, (ITextEncoder)encoder, includePooled);
        }
        catch
        {
            encoder.Dispose();
            throw;
        }
    }

    private const string PretrainedKey = "pretrained_text_encoder", PretrainedClass = "PretrainedTextEncoder";

    private static void SavePretrained(TextConditioner conditioner, IPretrainedTextEncoder encoder, string modelFolder)
    {
        var entry = PretrainedTextEncoders.Get(encoder.RegistryName);
        var json = ComponentConfig.New(ClassName);
        json[PretrainedKey] = entry.Name;
        json["pretrained_model"] = entry.Model;
        json["library"] = entry.Library;
        json["max_length"] = conditioner.Tokenizer.MaxLength;
        json["include_pooled"] = conditioner.IncludePooled;
        Directory.CreateDirectory(Path.Combine(modelFolder, ConditionerFolder));
        ComponentConfig.Write(json, Path.Combine(modelFolder, ConditionerFolder, "config.json"));
        var record = ComponentConfig.New(PretrainedClass);
        record["name"] = entry.Name;
        record["pretrained_model"] = entry.Model;
        record["library"] = entry.Library;
        record["hidden_size"] = entry.HiddenSize;
        record["note"] = "Frozen pretrained encoder: its weights ship with the library named here and are not copied into this folder.";
        Directory.CreateDirectory(Path.Combine(modelFolder, TextEncoderFolder));
        ComponentConfig.Write(record, Path.Combine(modelFolder, TextEncoderFolder, "config.json"));
    }

    private static TextConditioner LoadPretrained(ComponentConfig c, IProgress<string>? warnings)
    {
        var name = c.String(PretrainedKey)!;
        var model = c.String("pretrained_model");
        c.String("library");
        int? maxLength = c.Int("max_length");
        bool includePooled = c.Bool("include_pooled") ?? true;
        c.EnsureAllRead();
        var entry = PretrainedTextEncoders.Get(name);
        if (model is not null && !string.Equals(model, entry.Model, StringComparison.Ordinal))
            throw new DiffusionException($"{c.Source} was saved with {model} but the registered '{name}' encoder is {entry.Model}.");
        return entry.Create(maxLength, includePooled, warnings);
    }

    private static string Saved(Action save, string className)
    {
        save();
        return className;
    }
}
