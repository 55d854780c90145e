using System.Text.Json;
using Diffusion.Core;
using Diffusion.Text.Tokenizers;

namespace Diffusion.Text.Tests;

public sealed class ClipTokenizerTests
{
    // A tiny byte-level BPE in CLIP's format: single symbols, symbols with the end-of-word suffix, merged symbols.
    private static readonly string[] Vocab =
    [
        "a", "c", "t", "o", "d", "g", "a</w>", "t</w>", "g</w>", ",</w>", "!</w>",   // 0–10
        "ca", "cat</w>", "og</w>", "dog</w>", "<|startoftext|>", "<|endoftext|>",   // 11–16
        "s</w>", "at</w>", "Ã", "©</w>",                                         // 17–20 ("é" is the bytes C3 A9 → "Ã©")
    ];

    // Ranked merges: "c a" first, "a t</w>" last, so "cat" merges c+a before a+t.
    private static readonly string[] Merges = ["#version: 0.2", "c a", "ca t</w>", "o g</w>", "d og</w>", "a t</w>"];

    private static ClipTokenizer Write(TempDir dir, int maxLength = 77, IProgress<string>? warnings = null)
    {
        File.WriteAllText(dir.File("vocab.json"), JsonSerializer.Serialize(Vocab.Select((w, i) => (w, i)).ToDictionary(x => x.w, x => x.i)));
        File.WriteAllLines(dir.File("merges.txt"), Merges);
        return ClipTokenizer.FromFiles(dir.File("vocab.json"), dir.File("merges.txt"), maxLength, warnings: warnings);
    }

    [Fact]
    public void EncodesHandWorkedIds()
    {
        using var dir = new TempDir();
        var tok = Write(dir);
        // "A cat, a dog! at cats" → lower-cased → a | cat | , | a | dog | ! | at | cats
        //   a → a</w> (6); cat → c a t</w> → ca t</w> → cat</w> (12); , → ,</w> (9); dog → d o g</w> → d og</w> → dog</w> (14);
        //   ! → !</w> (10); at → a t</w> → at</w> (18); cats → c a t s</w> → ca t s</w> (11, 2, 17: no merge "ca t").
        Assert.Equal([15, 6, 12, 9, 6, 14, 10, 18, 11, 2, 17, 16], tok.EncodeToIds("A cat, a dog! at cats"));
        // Non-ASCII goes through the UTF-8 byte table: é = C3 A9 → "Ã" "©</w>".
        Assert.Equal([19, 20], tok.EncodeWords("É"));
        Assert.Equal(15, tok.BeginId);
        Assert.Equal(16, tok.EndId);
        Assert.Equal(16, tok.PadId);
        Assert.Equal(Vocab.Length, tok.VocabularySize);
    }

    [Fact]
    public void PadsToSeventySevenWithAMask()
    {
        using var dir = new TempDir();
        var tok = Write(dir);
        var t = tok.Encode(["a dog", ""]);
        Assert.Equal([2L, 77], t.Ids.shape);
        Assert.Equal(TorchSharp.torch.ScalarType.Bool, t.Mask.dtype);
        var ids = t.Ids.data<long>().ToArray();
        var mask = t.Mask.data<bool>().ToArray();
        Assert.Equal([15L, 6, 14, 16, 16], ids[..5]);
        Assert.Equal([true, true, true, true, false], mask[..5]);
        Assert.All(ids[4..77], id => Assert.Equal(16L, id));
        // The empty prompt is BOS EOS.
        Assert.Equal([15L, 16, 16], ids[77..80]);
        Assert.Equal(2, mask[77..].Count(m => m));
    }

    [Fact]
    public void TruncatesKeepingEosAndWarnsOnce()
    {
        using var dir = new TempDir();
        var warnings = new Lines();
        var tok = Write(dir, maxLength: 8, warnings);
        var t = tok.Encode(["A cat, a dog! at cats", "a cat a cat a cat a cat"]);
        Assert.Equal([15L, 6, 12, 9, 6, 14, 10, 16], t.Ids.data<long>().ToArray()[..8]);
        Assert.All(t.Mask.data<bool>().ToArray(), Assert.True);
        tok.Encode(["a cat a cat a cat a cat"]);
        var line = Assert.Single(warnings.All);
        Assert.Contains("truncated to 8", line);
    }

    [Fact]
    public void LoadsAFolderWithTokenizerSubfolderAndConfig()
    {
        using var dir = new TempDir();
        var sub = Directory.CreateDirectory(Path.Combine(dir, "tokenizer")).FullName;
        File.WriteAllText(Path.Combine(sub, "vocab.json"), JsonSerializer.Serialize(Vocab.Select((w, i) => (w, i)).ToDictionary(x => x.w, x => x.i)));
        File.WriteAllLines(Path.Combine(sub, "merges.txt"), Merges);
        File.WriteAllText(Path.Combine(sub, "tokenizer_config.json"), """{"model_max_length": 16, "pad_token": "<|endoftext|>", "do_lower_case": true}""");
        var tok = ClipTokenizer.Load(dir);
        Assert.Equal(16, tok.MaxLength);
        Assert.Equal([15, 14, 16], tok.EncodeToIds("DOG"));
    }

    [Fact]
    public void MissingFilesAreNamed()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<DiffusionException>(() => ClipTokenizer.Load(dir));
        Assert.Contains("vocab.json", e.Message);
        File.WriteAllText(dir.File("vocab.json"), JsonSerializer.Serialize(Vocab.Select((w, i) => (w, i)).ToDictionary(x => x.w, x => x.i)));
        e = Assert.Throws<DiffusionException>(() => ClipTokenizer.Load(dir));
        Assert.Contains("merges.txt", e.Message);
    }
}
