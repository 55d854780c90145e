using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Tests;

public sealed class ContextConditionTests
{
    [Fact]
    public void ConcatPadsTheShorterContextAndMasksThePadding()
    {
        using var scope = NewDisposeScope();
        using var toy = new ToyContextConditioner(classes: 3, dim: 4);
        var cond = toy.Encode([2, 0], CPU); // L = 3
        var uncond = toy.Unconditional(cond); // L = 1, no real token
        var both = Condition.Concat(cond, uncond);
        Assert.Equal([4L, 3, 4], both.Context!.shape);
        Assert.Equal([true, true, true, true, false, false, false, false, false, false, false, false], both.ContextMask!.data<bool>().ToArray());
        Assert.True(both.Context[TensorIndex.Slice(0, 2)].equal(cond.Context!).all().ToBoolean());
        Assert.Equal(0f, both.Context[TensorIndex.Slice(2, 4)].abs().sum().ToSingle());
    }

    [Fact]
    public void ConcatAddsAMaskForTheSideWithoutOne()
    {
        using var scope = NewDisposeScope();
        var a = new Condition { Context = ones(1, 2, 4) };
        var b = new Condition { Context = ones(2, 3, 4), ContextMask = tensor(new[] { true, true, false, true, false, false }).reshape(2, 3) };
        var both = Condition.Concat(a, b);
        Assert.Equal([3L, 3, 4], both.Context!.shape);
        Assert.Equal([true, true, false, true, true, false, true, false, false], both.ContextMask!.data<bool>().ToArray());
        // Same lengths and no masks: nothing is added.
        var plain = Condition.Concat(a, a);
        Assert.Null(plain.ContextMask);
        Assert.Equal([2L, 2, 4], plain.Context!.shape);
    }

    [Fact]
    public void ConcatNamesAFieldWhoseShapesDiffer()
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<DiffusionException>(() => Condition.Concat(new Condition { Context = ones(1, 2, 4) }, new Condition { Context = ones(1, 2, 5) }));
        Assert.Contains("field context has shapes (1, 2, 4) and (1, 2, 5)", e.Message);
    }

    [Fact]
    public void DropoutMixesContextsOfDifferentLengthsRowByRow()
    {
        using var scope = NewDisposeScope();
        using var toy = new ToyContextConditioner(classes: 3, dim: 4);
        var cond = toy.Encode(Enumerable.Range(0, 64).Select(i => i % 3).ToArray(), CPU);
        var dropped = toy.DropForTraining(cond, 0.5, new Generator(3, CPU));
        Assert.Equal(cond.Context!.shape, dropped.Context!.shape);
        var realTokens = dropped.ContextMask!.sum(1).data<long>().ToArray();
        int nulls = realTokens.Count(n => n == 0);
        Assert.InRange(nulls, 16, 48); // Binomial(64, 0.5)
        for (int i = 0; i < 64; i++) Assert.True(realTokens[i] == 0 || realTokens[i] == i % 3 + 1, $"row {i} has {realTokens[i]} tokens");
        Assert.Same(cond, toy.DropForTraining(cond, 0, new Generator(3, CPU)));
    }
}
