using System.Text.RegularExpressions;
using Diffusion.Core;
using Diffusion.Core.Components;
using Microsoft.ML.Tokenizers;
using static TorchSharp.torch;

namespace Diffusion.Text.Tokenizers;

/// <summary>
/// CLIP's byte-level BPE tokenizer (Radford et al. 2021), read from a user's <c>vocab.json</c> and <c>merges.txt</c> and
/// run by Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> (which has no CLIP class of its own): text is lower-cased,
/// split by CLIP's pre-tokenizer pattern (<see cref="Pattern"/>), each piece's UTF-8 bytes are mapped to GPT-2's
/// byte-to-character table, and the last symbol of every word carries the <c>&lt;/w&gt;</c> end-of-word suffix before the
/// merges are applied. Rows are <c>&lt;|startoftext|&gt; … &lt;|endoftext|&gt;</c>, truncated to 77 tokens and padded with
/// the pad token (<c>&lt;|endoftext|&gt;</c>, as OpenAI's CLIP and Stable Diffusion pad).
/// </summary>
/// <remarks>OpenAI's tokenizer also repairs mojibake (ftfy) and unescapes HTML before this; this class does not, so such
/// inputs may tokenize differently. Whitespace runs are irrelevant (the pattern skips them).</remarks>
public sealed class ClipTokenizer : ITextTokenizer
{
    /// <summary>The beginning-of-text token.</summary>
    public const string StartOfText = "<|startoftext|>";
    /// <summary>The end-of-text token (also CLIP's unknown and, by default, padding token).</summary>
    public const string EndOfText = "<|endoftext|>";
    /// <summary>The suffix marking the last symbol of a word.</summary>
    public const string EndOfWord = "</w>";
    /// <summary>CLIP's row length.</summary>
    public const int DefaultMaxLength = 77;
    /// <summary>The vocabulary file name.</summary>
    public const string VocabFile = "vocab.json";
    /// <summary>The merges file name.</summary>
    public const string MergesFile = "merges.txt";
    /// <summary>The optional config file name (read for <c>model_max_length</c> and <c>pad_token</c>).</summary>
    public const string ConfigFile = "tokenizer_config.json";

    /// <summary>CLIP's pre-tokenizer pattern (matched case-insensitively): the special tokens, English contractions, runs of
    /// letters, single digits, and runs of other non-space characters.</summary>
    public const string Pattern = @"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

    private readonly BpeTokenizer _bpe;
    private readonly TokenRows _rows;
    private readonly string[] _vocabulary;
    private readonly IReadOnlyList<string> _merges;

    private ClipTokenizer(BpeTokenizer bpe, string[] vocabulary, IReadOnlyList<string> merges, int padId, int maxLength, IProgress<string>? warnings)
    {
        _bpe = bpe;
        _vocabulary = vocabulary;
        _merges = merges;
        VocabularySize = vocabulary.Length;
        BeginId = bpe.Vocabulary[StartOfText];
        EndId = bpe.Vocabulary[EndOfText];
        _rows = new TokenRows(maxLength, padId, warnings, "CLIP tokenizer");
    }

    /// <summary>Reads a tokenizer from <paramref name="vocabPath"/> (token → id JSON) and <paramref name="mergesPath"/>
    /// (one merge "a b" per line, an optional <c>#version</c> first line).</summary>
    /// <param name="vocabPath">The <c>vocab.json</c> file; must hold <c>&lt;|startoftext|&gt;</c> and <c>&lt;|endoftext|&gt;</c>.</param>
    /// <param name="mergesPath">The <c>merges.txt</c> file.</param>
    /// <param name="maxLength">Tokens per row (77 for CLIP).</param>
    /// <param name="padToken">The padding token; null: <c>&lt;|endoftext|&gt;</c>.</param>
    /// <param name="warnings">Receives one warning the first time a text is truncated.</param>
    /// <exception cref="DiffusionException">A file is missing or malformed, or a special token is not in the vocabulary.</exception>
    public static ClipTokenizer FromFiles(string vocabPath, string mergesPath, int maxLength = DefaultMaxLength, string? padToken = null, IProgress<string>? warnings = null)
    {
        var words = WordTokenizer.ReadVocabulary(vocabPath);
        if (!File.Exists(mergesPath)) throw new DiffusionException($"Missing merges file '{mergesPath}'.");
        var merges = File.ReadLines(mergesPath).Select((line, i) => (line, i))
            .Where(x => !(x.i == 0 && x.line.StartsWith("#version", StringComparison.Ordinal)) && x.line.Trim().Length > 0)
            .Select(x => x.line.Trim()).ToList();
        foreach (var m in merges)
            if (m.Split(' ').Length != 2) throw new DiffusionException($"'{mergesPath}': the merge '{m}' is not two symbols separated by one space.");
        var vocab = words.Select((w, id) => KeyValuePair.Create(w, id)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        foreach (var special in new[] { StartOfText, EndOfText, padToken ?? EndOfText })
            if (!vocab.ContainsKey(special)) throw new DiffusionException($"'{vocabPath}' lacks the special token {special}.");
        var specials = new Dictionary<string, int> { [StartOfText] = vocab[StartOfText], [EndOfText] = vocab[EndOfText] };
        BpeTokenizer bpe;
        try
        {
            bpe = BpeTokenizer.Create(new BpeOptions(vocab)
            {
                Merges = merges,
                SpecialTokens = specials,
                Normalizer = LowerCaseNormalizer.Instance,
                PreTokenizer = new RegexPreTokenizer(new Regex(Pattern, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant), specials),
                EndOfWordSuffix = EndOfWord,
                ByteLevel = true,
                UnknownToken = EndOfText,
            });
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new DiffusionException($"'{vocabPath}' and '{mergesPath}' do not form a BPE tokenizer: {e.Message}", e);
        }
        return new ClipTokenizer(bpe, words, merges, vocab[padToken ?? EndOfText], maxLength, warnings);
    }

    /// <summary>Reads a tokenizer folder in Hugging Face's layout: <c>vocab.json</c>, <c>merges.txt</c> and optionally
    /// <c>tokenizer_config.json</c> (<c>model_max_length</c>, <c>pad_token</c>), in <paramref name="folder"/> or its
    /// <c>tokenizer/</c> sub-folder (a model folder).</summary>
    /// <exception cref="DiffusionException">The files are missing (the message names them) or malformed.</exception>
    public static ClipTokenizer Load(string folder, IProgress<string>? warnings = null)
    {
        string dir = File.Exists(Path.Combine(folder, VocabFile)) ? folder : Path.Combine(folder, "tokenizer");
        if (!File.Exists(Path.Combine(dir, VocabFile)))
            throw new DiffusionException($"No CLIP tokenizer in '{folder}': expected {VocabFile} and {MergesFile} there or in its tokenizer/ sub-folder.");
        int maxLength = DefaultMaxLength;
        string? pad = null;
        string configPath = Path.Combine(dir, ConfigFile);
        if (File.Exists(configPath))
        {
            var c = ComponentConfig.Read(configPath);
            // Hugging Face writes a very large model_max_length when there is none; CLIP's is 77.
            if (c.Double("model_max_length") is double m && m is >= 2 and <= 4096) maxLength = (int)m;
            pad = c.Has("pad_token") ? PadTokenOf(c) : null;
        }
        return FromFiles(Path.Combine(dir, VocabFile), Path.Combine(dir, MergesFile), maxLength, pad, warnings);
    }

    private static string? PadTokenOf(ComponentConfig c)
    {
        try { return c.String("pad_token"); }
        catch (DiffusionException) { return null; } // an AddedToken object: keep the default
    }

    /// <inheritdoc />
    public int MaxLength => _rows.MaxLength;

    /// <inheritdoc />
    public int VocabularySize { get; }

    /// <inheritdoc />
    public int PadId => _rows.PadId;

    /// <summary>The id of <c>&lt;|startoftext|&gt;</c>.</summary>
    public int BeginId { get; }

    /// <summary>The id of <c>&lt;|endoftext|&gt;</c>.</summary>
    public int EndId { get; }

    /// <summary>The BPE ids of <paramref name="text"/> alone, without BOS and EOS.</summary>
    public IReadOnlyList<int> EncodeWords(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return _bpe.EncodeToIds(text);
    }

    /// <inheritdoc />
    public IReadOnlyList<int> EncodeToIds(string text) => [BeginId, .. EncodeWords(text), EndId];

    /// <inheritdoc />
    public TokenizedText Encode(IReadOnlyList<string> texts, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        return _rows.Build(texts.Select(EncodeToIds).ToArray(), device);
    }

    /// <summary>Writes <c>vocab.json</c>, <c>merges.txt</c> and <c>tokenizer_config.json</c> (<c>model_max_length</c>,
    /// <c>pad_token</c>) into <paramref name="folder"/> (a model folder's <c>tokenizer/</c>), in Hugging Face's layout.</summary>
    public void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        var vocab = new System.Text.Json.Nodes.JsonObject();
        for (int i = 0; i < _vocabulary.Length; i++) vocab[_vocabulary[i]] = i;
        AtomicFile.WriteAllText(Path.Combine(folder, VocabFile), vocab.ToJsonString());
        AtomicFile.WriteAllText(Path.Combine(folder, MergesFile), "#version: 0.2\n" + string.Join("\n", _merges) + "\n");
        var config = new System.Text.Json.Nodes.JsonObject
        {
            ["tokenizer_class"] = "CLIPTokenizer",
            ["model_max_length"] = MaxLength,
            ["pad_token"] = _vocabulary[PadId],
            ["bos_token"] = StartOfText,
            ["eos_token"] = EndOfText,
            ["unk_token"] = EndOfText,
            ["do_lower_case"] = true,
        };
        AtomicFile.WriteAllText(Path.Combine(folder, ConfigFile), config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>The text of <paramref name="ids"/> (special tokens dropped, end-of-word suffixes turned into spaces).</summary>
    public string Decode(IEnumerable<int> ids) => _bpe.Decode(ids, considerSpecialTokens: false) ?? "";
}
