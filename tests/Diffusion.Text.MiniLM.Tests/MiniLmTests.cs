using Diffusion.Core;
using Diffusion.Text.Encoders;
using Diffusion.Text.MiniLM;
using static TorchSharp.torch;

namespace Diffusion.Text.MiniLM.Tests;

/// <summary>The pretrained model is loaded once for all tests (about 90 MB).</summary>
public sealed class MiniLmFixture : IDisposable
{
    public MiniLmEncoder Encoder { get; } = MiniLmEncoder.Create();

    public void Dispose() => Encoder.Dispose();
}

public sealed class MiniLmTests(MiniLmFixture fixture) : IClassFixture<MiniLmFixture>
{
    [Fact]
    public void TokenizesWithBertUncasedIds()
    {
        var tok = MiniLmTokenizer.Create();
        // bert-base-uncased: [CLS] 101, a 1037, photo 6302, of 1997, cat 4937, [SEP] 102; upper case is folded.
        Assert.Equal([101, 1037, 6302, 1997, 1037, 4937, 102], tok.EncodeToIds("A Photo of a CAT"));
        Assert.Equal(30522, tok.VocabularySize);
        Assert.Equal(0, tok.PadId);
        var rows = tok.Encode(["a cat", ""]);
        Assert.Equal([2L, 64], rows.Ids.shape);
        Assert.Equal([101L, 1037, 4937, 102, 0], rows.Ids[0, ..5].data<long>().ToArray());
        Assert.Equal(2, rows.Mask[1].sum().item<long>());
    }

    [Fact]
    public void EncodesPerTokenStatesAndAUnitSentenceEmbedding()
    {
        using var scope = NewDisposeScope();
        var conditioner = new TextConditioner(MiniLmTokenizer.Create(32), fixture.Encoder);
        var c = conditioner.Encode(["a photo of a cat", "a picture of a kitten", "a red sports car on a road"], CPU);
        Assert.Equal([3L, 32, 384], c.Context!.shape);
        Assert.Equal([3L, 32], c.ContextMask!.shape);
        var pooled = c[Condition.Fields.TextEmbedding]!;
        Assert.True(pooled.norm(1).allclose(ones(3), rtol: 0, atol: 1e-4));
        // A pretrained sentence encoder puts the two cat captions closer than a cat and a car.
        double catKitten = (pooled[0] * pooled[1]).sum().item<float>(), catCar = (pooled[0] * pooled[2]).sum().item<float>();
        Assert.True(catKitten > catCar + 0.2, $"cos(cat, kitten) = {catKitten}, cos(cat, car) = {catCar}");
    }

    [Fact]
    public void PaddingDoesNotChangeRealTokens()
    {
        using var scope = NewDisposeScope();
        var shortRows = new TextConditioner(MiniLmTokenizer.Create(8), fixture.Encoder).Encode(["a dog runs"], CPU);
        var longRows = new TextConditioner(MiniLmTokenizer.Create(40), fixture.Encoder).Encode(["a dog runs"], CPU);
        Assert.True(shortRows.Context!.narrow(1, 0, 5).allclose(longRows.Context!.narrow(1, 0, 5), rtol: 0, atol: 1e-4));
        Assert.True(shortRows[Condition.Fields.TextEmbedding]!.allclose(longRows[Condition.Fields.TextEmbedding]!, rtol: 0, atol: 1e-4));
    }

    [Fact]
    public void EmptyPromptIsUnconditional()
    {
        using var scope = NewDisposeScope();
        var conditioner = new TextConditioner(MiniLmTokenizer.Create(16), fixture.Encoder);
        var c = conditioner.Encode(["a cat", "a dog"], CPU);
        var u = conditioner.Unconditional(c);
        var empty = conditioner.Encode([""], CPU);
        Assert.True(u.Context![1].allclose(empty.Context![0], rtol: 0, atol: 0));
        Assert.Throws<DiffusionException>(() => MiniLmTokenizer.Create(513));
    }
}
