using System.Text.Json;
using System.Text.Json.Nodes;
using Diffusion.Core;
using Diffusion.Core.Components;
using Microsoft.ML.Tokenizers;
using static TorchSharp.torch;

namespace Diffusion.Text.Tokenizers;

/// <summary>
/// A word-level tokenizer with a vocabulary built from training captions: text is lower-cased
/// (<see cref="LowerCaseNormalizer"/>) and split into words and punctuation marks (Microsoft.ML.Tokenizers'
/// word-or-punctuation pre-tokenizer, <c>\w+|[\p{P}]</c>); every word seen at least <see cref="WordTokenizerOptions.MinCount"/>
/// times gets an id, every other word maps to <see cref="Unknown"/>. Ids 0–3 are <see cref="Pad"/>, <see cref="Unknown"/>,
/// <see cref="Begin"/>, <see cref="End"/>; words follow by falling count, then alphabetically.
/// </summary>
/// <remarks>Saved as a model folder's <c>tokenizer/</c>: <c>vocab.json</c> (token → id) and <c>tokenizer_config.json</c>.</remarks>
public sealed class WordTokenizer : ITextTokenizer
{
    /// <summary>The padding token (id 0).</summary>
    public const string Pad = "<pad>";
    /// <summary>The token of words outside the vocabulary (id 1).</summary>
    public const string Unknown = "<unk>";
    /// <summary>The beginning-of-text token (id 2).</summary>
    public const string Begin = "<bos>";
    /// <summary>The end-of-text token (id 3).</summary>
    public const string End = "<eos>";

    /// <summary>The <c>_class_name</c> in <c>tokenizer_config.json</c>.</summary>
    public const string ClassName = "WordTokenizer";
    /// <summary>The vocabulary file.</summary>
    public const string VocabFile = "vocab.json";
    /// <summary>The config file.</summary>
    public const string ConfigFile = "tokenizer_config.json";

    private static readonly PreTokenizer Splitter = PreTokenizer.CreateWordOrPunctuation();
    private readonly Dictionary<string, int> _ids;
    private readonly string[] _words;
    private readonly TokenRows _rows;

    private WordTokenizer(string[] words, WordTokenizerOptions options, IProgress<string>? warnings)
    {
        if (words.Length < 4 || words[0] != Pad || words[1] != Unknown || words[2] != Begin || words[3] != End)
            throw new DiffusionException($"A word vocabulary must start with {Pad}, {Unknown}, {Begin}, {End} (ids 0–3).");
        _words = words;
        _ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < words.Length; i++)
            if (!_ids.TryAdd(words[i], i)) throw new DiffusionException($"The word vocabulary lists '{words[i]}' twice.");
        Options = options;
        _rows = new TokenRows(options.MaxLength, 0, warnings, "Word tokenizer");
    }

    /// <summary>Builds the vocabulary from <paramref name="captions"/>.</summary>
    /// <param name="captions">Training captions.</param>
    /// <param name="options">Minimum count, vocabulary cap and row length; null for the defaults.</param>
    /// <param name="warnings">Receives one warning the first time a text is truncated.</param>
    public static WordTokenizer Build(IEnumerable<string> captions, WordTokenizerOptions? options = null, IProgress<string>? warnings = null)
    {
        ArgumentNullException.ThrowIfNull(captions);
        options ??= new WordTokenizerOptions();
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var caption in captions)
            foreach (var w in Words(caption))
                counts[w] = counts.GetValueOrDefault(w) + 1;
        var kept = counts.Where(kv => kv.Value >= options.MinCount && !IsSpecial(kv.Key))
            .OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key);
        if (options.MaxVocabulary is int max) kept = kept.Take(max - 4);
        return new WordTokenizer([Pad, Unknown, Begin, End, .. kept], options, warnings);
    }

    /// <summary>The options the vocabulary was built with (and the row length).</summary>
    public WordTokenizerOptions Options { get; }

    /// <inheritdoc />
    public int MaxLength => Options.MaxLength;

    /// <inheritdoc />
    public int VocabularySize => _words.Length;

    /// <inheritdoc />
    public int PadId => 0;

    /// <summary>The id of <see cref="Unknown"/> (1).</summary>
    public int UnknownId => 1;

    /// <summary>The id of <see cref="Begin"/> (2).</summary>
    public int BeginId => 2;

    /// <summary>The id of <see cref="End"/> (3).</summary>
    public int EndId => 3;

    /// <summary>The vocabulary, index = id.</summary>
    public IReadOnlyList<string> Vocabulary => _words;

    /// <summary>The lower-cased words and punctuation marks of <paramref name="text"/>, as this tokenizer splits it.</summary>
    public static IEnumerable<string> Words(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string normalized = LowerCaseNormalizer.Instance.Normalize(text);
        foreach (var (offset, length) in Splitter.PreTokenize(normalized))
            yield return normalized.Substring(offset, length);
    }

    /// <inheritdoc />
    public IReadOnlyList<int> EncodeToIds(string text)
    {
        var ids = new List<int> { BeginId };
        foreach (var w in Words(text)) ids.Add(_ids.TryGetValue(w, out int id) ? id : UnknownId);
        ids.Add(EndId);
        return ids;
    }

    /// <inheritdoc />
    public TokenizedText Encode(IReadOnlyList<string> texts, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        return _rows.Build(texts.Select(EncodeToIds).ToArray(), device);
    }

    /// <summary>The tokens of <paramref name="ids"/>, padding dropped.</summary>
    public string Decode(IEnumerable<int> ids) => string.Join(" ", ids.Where(i => i != PadId).Select(i => i >= 0 && i < _words.Length ? _words[i] : Unknown));

    /// <summary>Writes <c>vocab.json</c> and <c>tokenizer_config.json</c> into <paramref name="folder"/> (a model folder's <c>tokenizer/</c>).</summary>
    public void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        var vocab = new JsonObject();
        for (int i = 0; i < _words.Length; i++) vocab[_words[i]] = i;
        AtomicFile.WriteAllText(Path.Combine(folder, VocabFile), vocab.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        var config = ComponentConfig.New(ClassName);
        config["lowercase"] = true;
        config["model_max_length"] = Options.MaxLength;
        config["min_count"] = Options.MinCount;
        config["max_vocabulary"] = Options.MaxVocabulary;
        config["pad_token"] = Pad;
        config["unk_token"] = Unknown;
        config["bos_token"] = Begin;
        config["eos_token"] = End;
        ComponentConfig.Write(config, Path.Combine(folder, ConfigFile));
    }

    /// <summary>Reads a tokenizer written by <see cref="Save"/>.</summary>
    /// <param name="folder">The <c>tokenizer/</c> folder.</param>
    /// <param name="warnings">Receives one warning the first time a text is truncated.</param>
    /// <exception cref="DiffusionException">A file is missing or malformed, or the config has unknown keys.</exception>
    public static WordTokenizer Load(string folder, IProgress<string>? warnings = null)
    {
        var c = ComponentConfig.Read(Path.Combine(folder, ConfigFile), "tokenizer", ClassName);
        c.Expect("lowercase", true);
        c.Expect("pad_token", Pad);
        c.Expect("unk_token", Unknown);
        c.Expect("bos_token", Begin);
        c.Expect("eos_token", End);
        var d = new WordTokenizerOptions();
        var options = new WordTokenizerOptions
        {
            MaxLength = c.Int("model_max_length") ?? d.MaxLength,
            MinCount = c.Int("min_count") ?? d.MinCount,
            MaxVocabulary = c.Int("max_vocabulary"),
        };
        c.EnsureAllRead();
        var words = ReadVocabulary(Path.Combine(folder, VocabFile));
        return new WordTokenizer(words, options, warnings);
    }

    /// <summary>Reads a <c>vocab.json</c> (token → id, ids 0 … N−1 each once) into an array indexed by id.</summary>
    internal static string[] ReadVocabulary(string path)
    {
        if (!File.Exists(path)) throw new DiffusionException($"Missing vocabulary file '{path}'.");
        Dictionary<string, int>? vocab;
        try { vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(path)); }
        catch (JsonException e) { throw new DiffusionException($"'{path}' is not a JSON object of token → id: {e.Message}", e); }
        if (vocab is null || vocab.Count == 0) throw new DiffusionException($"'{path}' holds no tokens.");
        var words = new string?[vocab.Count];
        foreach (var (word, id) in vocab)
        {
            if (id < 0 || id >= words.Length || words[id] is not null)
                throw new DiffusionException($"'{path}': token '{word}' has id {id}; ids must be 0 … {words.Length - 1}, each used once.");
            words[id] = word;
        }
        return words!;
    }

    private static bool IsSpecial(string w) => w is Pad or Unknown or Begin or End;
}

/// <summary>How <see cref="WordTokenizer.Build"/> makes a vocabulary. Immutable; values are checked when set.</summary>
public sealed record WordTokenizerOptions
{
    private readonly int _minCount = 1;
    private readonly int _maxLength = 32;
    private readonly int? _maxVocabulary;

    /// <summary>A word gets its own id when it occurs at least this often in the training captions; rarer words are
    /// <see cref="WordTokenizer.Unknown"/>. At least 1; default 1.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1.</exception>
    public int MinCount
    {
        get => _minCount;
        init => _minCount = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(MinCount), value, "MinCount must be at least 1.");
    }

    /// <summary>Tokens per row, BOS and EOS included; longer texts are truncated. 2 … 4096; default 32.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside 2 … 4096.</exception>
    public int MaxLength
    {
        get => _maxLength;
        init => _maxLength = value is >= 2 and <= 4096 ? value : throw new ArgumentOutOfRangeException(nameof(MaxLength), value, "MaxLength must be in 2 … 4096.");
    }

    /// <summary>At most this many ids, the four special tokens included (the most frequent words are kept); null for no cap. Default null.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 5.</exception>
    public int? MaxVocabulary
    {
        get => _maxVocabulary;
        init => _maxVocabulary = value is null or >= 5 ? value : throw new ArgumentOutOfRangeException(nameof(MaxVocabulary), value, "MaxVocabulary must be at least 5 (4 special tokens and a word), or null.");
    }
}
