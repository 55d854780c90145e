using Diffusion.Core;
using Diffusion.Core.Training;
using Diffusion.Text.Encoders;
using Diffusion.Text.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Text.Tests;

public sealed class TextConditionerTests
{
    private static readonly string[] Captions = ["a dog runs", "a cat sleeps", "the digit seven", "a photo of a sandal"];

    private static (TextConditioner Conditioner, TextTransformer Encoder) Learned(int maxLength = 8, long seed = 1)
    {
        var tok = WordTokenizer.Build(Captions, new WordTokenizerOptions { MaxLength = maxLength });
        using var g = new Generator((ulong)seed);
        var encoder = new TextTransformer(new TextTransformerOptions { VocabularySize = tok.VocabularySize, MaxLength = 16, HiddenSize = 32, Layers = 2, Heads = 4 }, g);
        return (new TextConditioner(tok, encoder), encoder);
    }

    private static bool Close(Tensor a, Tensor b, double tol = 1e-5) => a.shape.SequenceEqual(b.shape) && a.allclose(b, rtol: 0, atol: tol);

    [Fact]
    public void LearnedEncoderGivesContextMaskAndPooled()
    {
        using var scope = NewDisposeScope();
        var (conditioner, _) = Learned();
        var c = conditioner.Encode(["a dog runs", "a cat"], CPU);
        Assert.Equal([2L, 8, 32], c.Context!.shape);
        Assert.Equal(ScalarType.Bool, c.ContextMask!.dtype);
        Assert.Equal([true, true, true, true, true, false, false, false, true, true, true, true, false, false, false, false], c.ContextMask.data<bool>().ToArray());
        Assert.Equal([2L, 32], c[Condition.Fields.TextEmbedding]!.shape);
        Assert.Equal([Condition.Fields.Context, Condition.Fields.ContextMask, Condition.Fields.TextEmbedding], c.Names.Order(StringComparer.Ordinal));
        var noPooled = new TextConditioner(conditioner.Tokenizer, conditioner.Encoder, includePooled: false).Encode(["a dog"], CPU);
        Assert.Null(noPooled[Condition.Fields.TextEmbedding]);
    }

    [Fact]
    public void PaddingDoesNotChangeRealTokens()
    {
        using var scope = NewDisposeScope();
        var (short8, _) = Learned(maxLength: 8);
        var (long16, _) = Learned(maxLength: 16);
        var a = short8.Encode(["a cat sleeps"], CPU);
        var b = long16.Encode(["a cat sleeps"], CPU);
        Assert.True(Close(a.Context!.narrow(1, 0, 5), b.Context!.narrow(1, 0, 5)));
        Assert.True(Close(a[Condition.Fields.TextEmbedding]!, b[Condition.Fields.TextEmbedding]!));
    }

    [Fact]
    public void EmptyPromptIsTheUnconditionalRowForRow()
    {
        using var scope = NewDisposeScope();
        var (conditioner, _) = Learned();
        var hint = randn(3, 1, 4, 4);
        var c = conditioner.Encode(["a dog runs", "a cat", "seven"], CPU).With(Condition.Fields.ImageHint, hint);
        var u = conditioner.Unconditional(c);
        var empty = conditioner.Encode(["", "", ""], CPU);
        foreach (var name in conditioner.Fields) Assert.True(Close(u[name]!.to(ScalarType.Float32), empty[name]!.to(ScalarType.Float32)), name);
        Assert.Same(hint, u[Condition.Fields.ImageHint]);
        Assert.Equal([true, true, false, false, false, false, false, false], u.ContextMask!.select(0, 2).data<bool>().ToArray());
        var direct = conditioner.Unconditional(3, CPU);
        Assert.True(Close(direct.Context!, empty.Context!));
    }

    [Fact]
    public void DropoutReplacesTheDrawnRows()
    {
        using var scope = NewDisposeScope();
        var (conditioner, _) = Learned();
        string[] texts = ["a dog runs", "a cat", "seven", "a photo of a sandal", "the digit", "a dog", "cat", "runs"];
        var c = conditioner.Encode(texts, CPU);
        var u = conditioner.Unconditional(c);
        using var g = new Generator(7);
        var dropped = conditioner.DropForTraining(c, 0.5, g);
        using var g2 = new Generator(7);
        var drawn = (rand(new long[] { texts.Length }, generator: g2) < 0.5).data<bool>().ToArray();
        Assert.Contains(true, drawn);
        Assert.Contains(false, drawn);
        for (int i = 0; i < texts.Length; i++)
        {
            var expected = drawn[i] ? u : c;
            foreach (var name in conditioner.Fields)
                Assert.True(Close(dropped[name]!.select(0, i).to(ScalarType.Float32), expected[name]!.select(0, i).to(ScalarType.Float32)), $"row {i} {name}");
        }
        using var g3 = new Generator(7);
        Assert.True(Close(conditioner.DropForTraining(c, 1.0, g3).Context!, u.Context!));
        Assert.Same(c, conditioner.DropForTraining(c, 0.0, g3));
    }

    [Fact]
    public void LearnedEncoderGetsGradientsThroughEncodeBatch()
    {
        using var scope = NewDisposeScope();
        var (conditioner, encoder) = Learned();
        Assert.True(encoder.Trainable);
        var batch = new TrainingBatch(zeros(2, 1, 4, 4), null, ["a dog runs", "a photo of a sandal"]);
        var c = conditioner.EncodeBatch(batch, CPU);
        var loss = c.Context!.pow(2).mean() + c[Condition.Fields.TextEmbedding]!.sum();
        loss.backward();
        foreach (var (name, p) in encoder.named_parameters())
        {
            Assert.NotNull(p.grad);
            Assert.True(p.grad!.abs().sum().item<float>() > 0, $"{name} got no gradient");
        }
        Assert.Contains("captions", Assert.Throws<DiffusionException>(() => conditioner.EncodeBatch(new TrainingBatch(zeros(2, 1, 4, 4)), CPU)).Message);
    }

    [Fact]
    public void LearnedEncoderSavesAndLoads()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var (conditioner, encoder) = Learned();
        encoder.Save(Path.Combine(dir, "text_encoder"));
        ((WordTokenizer)conditioner.Tokenizer).Save(Path.Combine(dir, "tokenizer"));
        using var back = TextTransformer.Load(Path.Combine(dir, "text_encoder"));
        Assert.Equal(encoder.Options, back.Options);
        var again = new TextConditioner(WordTokenizer.Load(Path.Combine(dir, "tokenizer")), back);
        Assert.True(Close(conditioner.Encode(["a dog runs"], CPU).Context!, again.Encode(["a dog runs"], CPU).Context!, 0));
    }

    [Fact]
    public void RowsLongerThanThePositionsAreRejected()
    {
        var tok = WordTokenizer.Build(Captions, new WordTokenizerOptions { MaxLength = 32 });
        using var encoder = new TextTransformer(new TextTransformerOptions { VocabularySize = tok.VocabularySize, MaxLength = 16, HiddenSize = 8, Heads = 2 });
        Assert.Contains("16 positions", Assert.Throws<DiffusionException>(() => new TextConditioner(tok, encoder)).Message);
        Assert.Throws<DiffusionException>(() => new TextTransformerOptions { HiddenSize = 10, Heads = 4 }.Validate());
    }
}
