using Diffusion.Core;
using Diffusion.Core.Conditioning;
using Diffusion.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Tests;

public sealed class ConditionTests
{
    private static Condition WithHint(params long[] labels) => new Condition { Labels = tensor(labels) }
        .With(Condition.Fields.ImageHint, arange(labels.Length * 4, dtype: ScalarType.Float32).reshape(labels.Length, 1, 2, 2));

    [Fact]
    public void EveryFieldIsBatchedSelectedAndMovedAlike()
    {
        using var scope = NewDisposeScope();
        var a = WithHint(0, 1).With("custom", ones(2, 3));
        var b = WithHint(2, 2).With("custom", zeros(2, 3));
        var both = Condition.Concat(a, b);
        Assert.Equal(["custom", "image_hint", "labels"], both.Names);
        Assert.Equal(4, both.BatchSize);
        Assert.Equal([0L, 1, 2, 2], both.Labels!.data<long>().ToArray());
        var picked = both.Select(tensor(new long[] { 3, 0 }));
        Assert.Equal([2L, 0], picked.Labels!.data<long>().ToArray());
        Assert.Equal([0f, 3f], picked["custom"]!.sum(1).data<float>().ToArray());
        Assert.Equal(both.Names, both.To(CPU).Names);
    }

    [Fact]
    public void MismatchedFieldsAndBatchSizesAreOneErrorEach()
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<DiffusionException>(() => Condition.Concat(WithHint(0), new Condition { Labels = tensor(new long[] { 1 }) }));
        Assert.Contains("image_hint", e.Message);
        e = Assert.Throws<DiffusionException>(() => new Condition { Labels = tensor(new long[] { 1, 2 }) }.With(Condition.Fields.Mask, zeros(3, 1, 2, 2)));
        Assert.Contains("batch size", e.Message);
        Assert.Contains("labels has 2", e.Message);
    }

    [Fact]
    public void TheUnconditionalHalfKeepsAHintAndNullsTheLabels()
    {
        using var scope = NewDisposeScope();
        var classes = new ClassConditioner(3);
        var c = WithHint(0, 2);
        var u = classes.Unconditional(c);
        Assert.Equal([3L, 3], u.Labels!.data<long>().ToArray());
        Assert.Same(c[Condition.Fields.ImageHint], u[Condition.Fields.ImageHint]);
        var both = Condition.Concat(c, u); // the guidance batch: no field lost
        Assert.Equal(4, both.BatchSize);
    }

    [Fact]
    public void DropoutDropsOnlyWhatGuidanceDrops()
    {
        using var scope = NewDisposeScope();
        var classes = new ClassConditioner(3);
        var c = WithHint(Enumerable.Range(0, 200).Select(i => (long)(i % 3)).ToArray());
        var dropped = classes.DropForTraining(c, 0.3, new Generator(5, CPU));
        var labels = dropped.Labels!.data<long>().ToArray();
        int nulls = labels.Count(l => l == 3);
        Assert.InRange(nulls, 40, 80);              // Binomial(200, 0.3): mean 60, sd 6.5
        for (int i = 0; i < 200; i++) Assert.True(labels[i] == 3 || labels[i] == i % 3);
        Assert.True(dropped[Condition.Fields.ImageHint]!.equal(c[Condition.Fields.ImageHint]!).all().item<bool>());
        // The same generator state gives the same rows.
        var again = classes.DropForTraining(c, 0.3, new Generator(5, CPU));
        Assert.Equal(labels, again.Labels!.data<long>().ToArray());
        Assert.Throws<DiffusionException>(() => classes.DropForTraining(c, 1.5, new Generator(5, CPU)));
    }

    [Fact]
    public void TheConditionerEncodesRawBatches()
    {
        using var scope = NewDisposeScope();
        var classes = new ClassConditioner(3);
        var c = classes.EncodeBatch(new TrainingBatch(zeros(2, 1, 4, 4), tensor(new long[] { 2, 0 })), CPU);
        Assert.Equal([2L, 0], c.Labels!.data<long>().ToArray());
        var e = Assert.Throws<DiffusionException>(() => classes.EncodeBatch(new TrainingBatch(zeros(2, 1, 4, 4)), CPU));
        Assert.Contains("labelled", e.Message);
    }
}
