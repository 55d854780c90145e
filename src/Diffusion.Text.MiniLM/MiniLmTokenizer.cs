using Diffusion.Core;
using Diffusion.Text.Tokenizers;
using Microsoft.ML.Tokenizers;
using static TorchSharp.torch;

namespace Diffusion.Text.MiniLM;

/// <summary>
/// MiniLM's uncased WordPiece tokenizer (BERT's: lower-casing, accent stripping, punctuation split, <c>##</c> sub-words),
/// run by Microsoft.ML.Tokenizers' <see cref="BertTokenizer"/> on the vocabulary embedded with the model. Rows are
/// <c>[CLS] … [SEP]</c>, truncated to <see cref="MaxLength"/> and padded with <c>[PAD]</c> (id 0).
/// </summary>
public sealed class MiniLmTokenizer : ITextTokenizer
{
    /// <summary>The default row length: captions are short.</summary>
    public const int DefaultMaxLength = 64;

    private readonly BertTokenizer _bert;
    private readonly TokenRows _rows;

    private MiniLmTokenizer(BertTokenizer bert, int vocabularySize, int maxLength, IProgress<string>? warnings)
    {
        _bert = bert;
        VocabularySize = vocabularySize;
        _rows = new TokenRows(maxLength, bert.PaddingTokenId, warnings, "MiniLM tokenizer");
    }

    /// <summary>Reads the embedded vocabulary.</summary>
    /// <param name="maxLength">Tokens per row, [CLS] and [SEP] included; 2 … <see cref="MiniLm.MaxPositions"/>.</param>
    /// <param name="warnings">Receives one warning the first time a text is truncated.</param>
    /// <exception cref="DiffusionException">The length is out of range or the vocabulary cannot be read.</exception>
    public static MiniLmTokenizer Create(int maxLength = DefaultMaxLength, IProgress<string>? warnings = null)
    {
        if (maxLength is < 2 or > MiniLm.MaxPositions)
            throw new DiffusionException($"MiniLM rows must be 2 … {MiniLm.MaxPositions} tokens long, got {maxLength}.");
        byte[] vocab;
        using (var s = MiniLm.OpenVocabulary())
        using (var copy = new MemoryStream())
        {
            s.CopyTo(copy);
            vocab = copy.ToArray();
        }
        int size = System.Text.Encoding.UTF8.GetString(vocab).Split('\n').Count(l => l.Length > 0);
        using var stream = new MemoryStream(vocab);
        var bert = BertTokenizer.Create(stream, new BertOptions { LowerCaseBeforeTokenization = true });
        return new MiniLmTokenizer(bert, size, maxLength, warnings);
    }

    /// <inheritdoc />
    public int MaxLength => _rows.MaxLength;

    /// <inheritdoc />
    public int VocabularySize { get; }

    /// <inheritdoc />
    public int PadId => _rows.PadId;

    /// <summary>The id of <c>[CLS]</c>.</summary>
    public int ClassificationId => _bert.ClassificationTokenId;

    /// <summary>The id of <c>[SEP]</c>.</summary>
    public int SeparatorId => _bert.SeparatorTokenId;

    /// <inheritdoc />
    public IReadOnlyList<int> EncodeToIds(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return [ClassificationId, .. _bert.EncodeToIds(text, addSpecialTokens: false, considerPreTokenization: true, considerNormalization: true), SeparatorId];
    }

    /// <inheritdoc />
    public TokenizedText Encode(IReadOnlyList<string> texts, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        return _rows.Build(texts.Select(EncodeToIds).ToArray(), device);
    }
}
