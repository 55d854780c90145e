using Diffusion.Core;
using static Diffusion.Models.Tests.TestModels;
using static TorchSharp.torch;

namespace Diffusion.Models.Tests;

[Collection(TorchCollection.Name)]
public sealed class UNetContextErrorTests
{
    private static DiffusionException Fails(Condition condition, long batch = 2)
    {
        var o = Cross();
        using var model = Build(o);
        return Assert.Throws<DiffusionException>(() => model.Predict(Noise(o, batch), Timesteps(1, 2)[TensorIndex.Slice(0, batch)], condition));
    }

    [Fact]
    public void MissingContextIsNamed()
    {
        using var scope = NewDisposeScope();
        Assert.Contains("needs the condition field context", Fails(Condition.None).Message);
        Assert.Contains("needs the condition field context", Fails(new Condition { ContextMask = Mask(3, 3, 3) }).Message);
    }

    [Theory]
    [InlineData(2L, 5L, 7L)] // wrong width
    [InlineData(3L, 5L, 12L)] // wrong batch
    public void ContextOfTheWrongShapeIsOneError(long batch, long tokens, long dim)
    {
        using var scope = NewDisposeScope();
        var e = Fails(new Condition { Context = Context(batch, tokens, dim) });
        Assert.Contains("context must have shape (2, L, 12)", e.Message);
        Assert.Contains($"({batch}, {tokens}, {dim})", e.Message);
    }

    [Fact]
    public void ContextWithoutTokenAxisIsOneError()
    {
        using var scope = NewDisposeScope();
        Assert.Contains("context must have shape (2, L, 12)", Fails(new Condition { Context = zeros(2, 12) }).Message);
    }

    [Fact]
    public void IntegerContextIsRefused()
    {
        using var scope = NewDisposeScope();
        Assert.Contains("floating-point", Fails(new Condition { Context = zeros(new long[] { 2, 3, 12 }, dtype: ScalarType.Int64) }).Message);
    }

    [Fact]
    public void MaskNotMatchingTheContextIsOneError()
    {
        using var scope = NewDisposeScope();
        var e = Fails(new Condition { Context = Context(2, 5), ContextMask = Mask(4, 4, 2) });
        Assert.Contains("context_mask must have shape (2, 5)", e.Message);
        e = Fails(new Condition { Context = Context(2, 5), ContextMask = ones(2, 5, 1, dtype: ScalarType.Bool) });
        Assert.Contains("context_mask must have shape (2, 5)", e.Message);
        e = Fails(new Condition { Context = Context(2, 5), ContextMask = ones(2, 5) });
        Assert.Contains("must be bool", e.Message);
    }

    [Fact]
    public void ModelWithoutCrossAttentionRefusesContextAndMask()
    {
        using var scope = NewDisposeScope();
        var o = Small(sampleSize: 8, classes: 3);
        using var model = Build(o);
        var e = Assert.Throws<DiffusionException>(() => model.Predict(Noise(o, 2), Timesteps(1, 2), new Condition { Context = Context(2, 5), ContextMask = Mask(5, 5, 5) }));
        Assert.Contains("context, context_mask", e.Message);
        Assert.Contains("it reads labels", e.Message);
    }
}
