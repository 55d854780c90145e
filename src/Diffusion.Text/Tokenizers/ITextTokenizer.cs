using Diffusion.Core;
using static TorchSharp.torch;

namespace Diffusion.Text.Tokenizers;

/// <summary>
/// Turns captions into fixed-length rows of token ids for a text encoder: <c>BOS text… EOS</c>, truncated to
/// <see cref="MaxLength"/> (keeping the EOS) and padded with <see cref="PadId"/>, with a mask saying which positions
/// are real.
/// </summary>
public interface ITextTokenizer
{
    /// <summary>Tokens per row, BOS and EOS included.</summary>
    int MaxLength { get; }

    /// <summary>Number of ids (the text encoder's embedding rows).</summary>
    int VocabularySize { get; }

    /// <summary>The id written into padding positions.</summary>
    int PadId { get; }

    /// <summary>The ids of one text, BOS and EOS included, before truncation and padding.</summary>
    IReadOnlyList<int> EncodeToIds(string text);

    /// <summary>Encodes one row per text: truncated to <see cref="MaxLength"/> and padded.</summary>
    /// <returns>Ids int64 (B, L) and mask bool (B, L) with L = <see cref="MaxLength"/>, in the caller's dispose scope.</returns>
    TokenizedText Encode(IReadOnlyList<string> texts, Device? device = null);
}

/// <summary>A batch of tokenized texts.</summary>
/// <param name="Ids">Token ids, int64 (B, L).</param>
/// <param name="Mask">True at real tokens (BOS, text, EOS), false at padding, bool (B, L).</param>
public sealed record TokenizedText(Tensor Ids, Tensor Mask);

/// <summary>Truncation, padding and the once-only truncation warning shared by the tokenizers (and for writing new ones):
/// rows of per-text ids (each BOS … EOS) become fixed-length <see cref="TokenizedText"/>.</summary>
public sealed class TokenRows
{
    private readonly IProgress<string>? _warnings;
    private int _warned;

    /// <summary>Rows of <paramref name="maxLength"/> tokens padded with <paramref name="padId"/>.</summary>
    /// <param name="maxLength">Tokens per row, BOS and EOS included; at least 2.</param>
    /// <param name="padId">The padding id.</param>
    /// <param name="warnings">Receives one warning the first time a row is truncated.</param>
    /// <param name="tokenizer">The tokenizer's name, for messages.</param>
    /// <exception cref="DiffusionException"><paramref name="maxLength"/> is below 2.</exception>
    public TokenRows(int maxLength, int padId, IProgress<string>? warnings, string tokenizer)
    {
        if (maxLength < 2) throw new DiffusionException($"{tokenizer}: the maximum length must leave room for BOS and EOS (at least 2), got {maxLength}.");
        MaxLength = maxLength;
        PadId = padId;
        _warnings = warnings;
        Tokenizer = tokenizer;
    }

    /// <summary>Tokens per row.</summary>
    public int MaxLength { get; }

    /// <summary>The padding id.</summary>
    public int PadId { get; }

    /// <summary>The tokenizer's name, for messages.</summary>
    public string Tokenizer { get; }

    /// <summary>Builds (B, L) rows from per-text ids (each BOS … EOS): over-long rows keep their first L − 1 ids and their
    /// EOS. The first truncation is reported once (later ones are silent, so a training loop does not flood the log).</summary>
    /// <param name="rows">Per-text ids, BOS … EOS.</param>
    /// <param name="device">Where the tensors go; null for the CPU.</param>
    public TokenizedText Build(IReadOnlyList<IReadOnlyList<int>> rows, Device? device)
    {
        int b = rows.Count, l = MaxLength;
        var ids = new long[b * l];
        var mask = new bool[b * l];
        Array.Fill(ids, PadId);
        for (int r = 0; r < b; r++)
        {
            var row = rows[r];
            int n = Math.Min(row.Count, l);
            for (int i = 0; i < n; i++) { ids[r * l + i] = row[i]; mask[r * l + i] = true; }
            if (row.Count > l)
            {
                ids[r * l + l - 1] = row[^1]; // keep the EOS
                if (Interlocked.Exchange(ref _warned, 1) == 0)
                    _warnings?.Report($"{Tokenizer}: a text of {row.Count} tokens was truncated to {l} (the maximum length); further truncations are not reported.");
            }
        }
        var dev = device ?? CPU;
        return new TokenizedText(tensor(ids, new long[] { b, l }, device: dev), tensor(mask, new long[] { b, l }, device: dev));
    }
}
