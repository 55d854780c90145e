using Diffusion.Core;
using Diffusion.Text.Tokenizers;

namespace Diffusion.Text.Tests;

public sealed class WordTokenizerTests
{
    private static readonly string[] Captions = ["A dog runs.", "a dog, a cat", "The cat sleeps", "a T-shirt"];

    [Fact]
    public void BuildsLowerCasedVocabularyWithPunctuationSplit()
    {
        var tok = WordTokenizer.Build(Captions);
        Assert.Equal(["a", "dog", "runs", "."], WordTokenizer.Words("A dog runs."));
        Assert.Equal(["a", "t", "-", "shirt"], WordTokenizer.Words("a T-shirt"));
        // Specials first, then by falling count ("a" 4, "cat" 2, "dog" 2), then alphabetically.
        Assert.Equal([WordTokenizer.Pad, WordTokenizer.Unknown, WordTokenizer.Begin, WordTokenizer.End, "a", "cat", "dog"], tok.Vocabulary.Take(7));
        Assert.Equal(4 + 11, tok.VocabularySize); // a cat dog , - . runs shirt sleeps t the
    }

    [Fact]
    public void RoundTripsAndMapsUnknownWordsToUnk()
    {
        var tok = WordTokenizer.Build(Captions);
        var ids = tok.EncodeToIds("A cat runs, a zebra");
        Assert.Equal(tok.BeginId, ids[0]);
        Assert.Equal(tok.EndId, ids[^1]);
        Assert.Equal(tok.UnknownId, ids[^2]);
        Assert.Equal("<bos> a cat runs , a <unk> <eos>", tok.Decode(ids));
    }

    [Fact]
    public void MinCountSendsRareWordsToUnk()
    {
        var tok = WordTokenizer.Build(Captions, new WordTokenizerOptions { MinCount = 2 });
        Assert.Equal([WordTokenizer.Pad, WordTokenizer.Unknown, WordTokenizer.Begin, WordTokenizer.End, "a", "cat", "dog"], tok.Vocabulary);
        Assert.Equal([2, 4, 1, 3], tok.EncodeToIds("a sleeps"));
    }

    [Fact]
    public void PadsTruncatesAndMasks()
    {
        var warnings = new Lines();
        var tok = WordTokenizer.Build(Captions, new WordTokenizerOptions { MaxLength = 5 }, warnings);
        var t = tok.Encode(["a dog", "a dog a dog a dog", ""]);
        Assert.Equal([3L, 5], t.Ids.shape);
        long a = 4, dog = 6;
        Assert.Equal([2L, a, dog, 3, 0, /**/ 2, a, dog, a, 3, /**/ 2, 3, 0, 0, 0], t.Ids.data<long>().ToArray());
        Assert.Equal([true, true, true, true, false, true, true, true, true, true, true, true, false, false, false], t.Mask.data<bool>().ToArray());
        tok.Encode(["a dog a dog a dog"]);
        Assert.Single(warnings.All);
    }

    [Fact]
    public void SavesAndLoadsTheTokenizerFolder()
    {
        using var dir = new TempDir();
        var tok = WordTokenizer.Build(Captions, new WordTokenizerOptions { MinCount = 1, MaxLength = 12 });
        string folder = Path.Combine(dir, "tokenizer");
        tok.Save(folder);
        Assert.True(File.Exists(Path.Combine(folder, "vocab.json")));
        Assert.True(File.Exists(Path.Combine(folder, "tokenizer_config.json")));
        var back = WordTokenizer.Load(folder);
        Assert.Equal(tok.Vocabulary, back.Vocabulary);
        Assert.Equal(tok.Options, back.Options);
        Assert.Equal(tok.EncodeToIds("the dog sleeps, a zebra"), back.EncodeToIds("the dog sleeps, a zebra"));
    }

    [Fact]
    public void LoadRejectsBrokenFolders()
    {
        using var dir = new TempDir();
        Assert.Contains("tokenizer_config.json", Assert.Throws<DiffusionException>(() => WordTokenizer.Load(dir)).Message);
        WordTokenizer.Build(Captions).Save(dir);
        File.WriteAllText(dir.File("vocab.json"), """{"<pad>": 0, "<unk>": 1, "<bos>": 2, "<eos>": 3, "a": 7}""");
        Assert.Contains("id 7", Assert.Throws<DiffusionException>(() => WordTokenizer.Load(dir)).Message);
    }
}
