using System.Text.Json;
using Diffusion.Core;
using Diffusion.Text.Clip;
using Diffusion.Text.Encoders;
using Diffusion.Text.Tokenizers;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Diffusion.Text.Tests;

public sealed class TextComponentsTests
{
    [Fact]
    public void LearnedConditionerRoundTripsThroughAModelFolder()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var tok = WordTokenizer.Build(["a dog runs", "a cat sleeps"], new WordTokenizerOptions { MaxLength = 8 });
        using var g = new Generator(9);
        var encoder = new TextTransformer(new TextTransformerOptions { VocabularySize = tok.VocabularySize, MaxLength = 8, HiddenSize = 16, Heads = 2 }, g);
        var conditioner = new TextConditioner(tok, encoder, includePooled: false);
        TextComponents.Save(conditioner, dir);
        Assert.True(File.Exists(Path.Combine(dir, "tokenizer", "vocab.json")));
        Assert.True(File.Exists(Path.Combine(dir, "text_encoder", "config.json")));
        var back = TextComponents.Load(dir);
        Assert.False(back.IncludePooled);
        Assert.True(conditioner.Encode(["a cat runs"], CPU).Context!.allclose(back.Encode(["a cat runs"], CPU).Context!, rtol: 0, atol: 0));
    }

    [Fact]
    public void ClipConditionerRoundTripsThroughAModelFolder()
    {
        using var scope = NewDisposeScope();
        using var source = new TempDir();
        using var dir = new TempDir();
        File.WriteAllText(source.File("vocab.json"), JsonSerializer.Serialize(new[] { "a", "c", "t", "o", "d", "g", "a</w>", "t</w>", "g</w>", ",</w>", "!</w>", "ca", "cat</w>", "og</w>", "dog</w>", "<|startoftext|>", "<|endoftext|>", "s</w>", "at</w>", "Ã", "©</w>" }.Select((w, i) => (w, i)).ToDictionary(x => x.w, x => x.i)));
        File.WriteAllLines(source.File("merges.txt"), ["#version: 0.2", "c a", "ca t</w>", "o g</w>", "d og</w>", "a t</w>"]);
        using var g = new Generator(10);
        var clip = new ClipTextModel(new ClipTextConfig(VocabularySize: 21, HiddenSize: 16, IntermediateSize: 32, Layers: 1, Heads: 2), g);
        clip.Freeze();
        var conditioner = new TextConditioner(ClipTokenizer.Load(source), clip);
        TextComponents.Save(conditioner, dir);
        var back = TextComponents.Load(dir);
        Assert.IsType<ClipTextModel>(back.Encoder);
        Assert.Equal(77, back.Tokenizer.MaxLength);
        var a = conditioner.Encode(["A cat, a dog!"], CPU);
        var b = back.Encode(["A cat, a dog!"], CPU);
        Assert.True(a.Context!.allclose(b.Context!, rtol: 0, atol: 0));
        Assert.True(a[Condition.Fields.TextEmbedding]!.allclose(b[Condition.Fields.TextEmbedding]!, rtol: 0, atol: 0));
    }
}
