using Diffusion.Core;
using TorchSharp;
using static Diffusion.Models.Tests.TestModels;
using static TorchSharp.torch;

namespace Diffusion.Models.Tests;

[Collection(TorchCollection.Name)]
public sealed class UNetInputErrorTests
{
    [Fact]
    public void WrongChannelCountSaysWhatWasExpected()
    {
        using var scope = NewDisposeScope();
        using var model = Build(Small(inChannels: 1));
        var e = Assert.Throws<DiffusionException>(() => model.Predict(zeros(2, 3, 16, 16), Timesteps(1, 2), Condition.None));
        Assert.Contains("(B, 1, 16, 16)", e.Message);
        Assert.Contains("(2, 3, 16, 16)", e.Message);
    }

    [Theory]
    [InlineData(2, 1, 28, 28)]
    [InlineData(2, 1, 16, 8)]
    [InlineData(1, 16, 16, 1)]
    public void WrongImageShapeThrows(long b, long c, long h, long w)
    {
        using var scope = NewDisposeScope();
        using var model = Build(Small());
        Assert.Throws<DiffusionException>(() => model.Predict(zeros(b, c, h, w), Timesteps(1, 2), Condition.None));
    }

    [Fact]
    public void TimestepsNotMatchingTheBatchThrow()
    {
        using var scope = NewDisposeScope();
        using var model = Build(Small());
        var e = Assert.Throws<DiffusionException>(() => model.Predict(zeros(2, 1, 16, 16), Timesteps(1, 2, 3), Condition.None));
        Assert.Contains("Timesteps", e.Message);
    }

    [Fact]
    public void BadLabelsThrow()
    {
        using var scope = NewDisposeScope();
        using var model = Build(Small(classes: 3));
        var x = zeros(2, 1, 16, 16);
        var t = Timesteps(1, 2);
        Assert.Throws<DiffusionException>(() => model.Predict(x, t, new Condition { Labels = Labels(0, 1, 2) }));
        Assert.Throws<DiffusionException>(() => model.Predict(x, t, new Condition { Labels = tensor(new[] { 0f, 1f }) }));
        var e = Assert.Throws<DiffusionException>(() => model.Predict(x, t, new Condition { Labels = Labels(0, 4) }));
        Assert.Contains("[0, 3]", e.Message);
    }

    [Fact]
    public void UnconditionalModelRefusesLabels()
    {
        // It used to ignore them; a field a model was not built for is now an error naming it (conditioning seams issue).
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var o = Small();
        using var model = Build(o);
        var x = Noise(o, 2);
        Assert.Equal([2L, 1, 16, 16], model.Predict(x, Timesteps(1, 2), Condition.None).shape);
        var e = Assert.Throws<DiffusionException>(() => model.Predict(x, Timesteps(1, 2), new Condition { Labels = Labels(0, 1) }));
        Assert.Contains("labels", e.Message);
    }
}
