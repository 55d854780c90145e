using Diffusion.Core;
using TorchSharp;
using static Diffusion.Models.Tests.TestModels;
using static TorchSharp.torch;

namespace Diffusion.Models.Tests;

[Collection(TorchCollection.Name)]
public sealed class UNetResidualTests
{
    private static (UNet Model, Tensor X, Tensor T, Condition C) Setup()
    {
        var o = Small(sampleSize: 16, multipliers: [1, 2], classes: 3);
        var model = Build(o, seed: 4);
        model.eval();
        return (model, Noise(o, 2), Timesteps(10, 700), new Condition { Labels = Labels(0, 2) });
    }

    private static UNetResiduals Residuals(UNet model, long batch, Func<long[], Tensor> make)
    {
        var (down, mid) = model.ResidualShapes(batch);
        return new UNetResiduals(down.Select(make).ToArray(), make(mid));
    }

    [Fact]
    public void ZeroResidualsChangeNothing()
    {
        using var scope = NewDisposeScope();
        var (model, x, t, c) = Setup();
        using var noGrad = no_grad();
        var plain = model.Predict(x, t, c);
        var withZeros = model.Forward(x, t, c, Residuals(model, 2, s => zeros(s)));
        Assert.True(plain.equal(withZeros).all().item<bool>(), "zero residuals changed the output");
    }

    [Fact]
    public void EveryResidualReachesTheOutput()
    {
        using var scope = NewDisposeScope();
        var (model, x, t, c) = Setup();
        using var noGrad = no_grad();
        var plain = model.Predict(x, t, c);
        var (down, mid) = model.ResidualShapes(2);
        // conv_in, 1 resnet + downsampler at level 0, 1 resnet at level 1.
        Assert.Equal(4, down.Count);
        Assert.Equal([2L, 16, 16, 16], down[0]);
        Assert.Equal([2L, 32, 8, 8], mid);
        for (int i = 0; i <= down.Count; i++)
        {
            var r = Residuals(model, 2, s => zeros(s));
            var bumped = i < down.Count
                ? new UNetResiduals(r.Down.Select((d, k) => k == i ? ones(d.shape) * 0.5 : d).ToArray(), r.Mid)
                : r with { Mid = ones(mid) * 0.5 };
            Assert.True(MaxAbsDiff(model.Forward(x, t, c, bumped), plain) > 1e-4, $"residual {i} had no effect");
        }
    }

    [Fact]
    public void WrongCountOrShapeIsOneError()
    {
        using var scope = NewDisposeScope();
        var (model, x, t, c) = Setup();
        var r = Residuals(model, 2, s => zeros(s));
        var e = Assert.Throws<DiffusionException>(() => model.Forward(x, t, c, r with { Down = r.Down.Skip(1).ToArray() }));
        Assert.Contains("4 skip connections but got 3", e.Message);
        e = Assert.Throws<DiffusionException>(() => model.Forward(x, t, c, r with { Down = r.Down.Select((d, k) => k == 2 ? zeros(2, 16, 4, 4) : d).ToArray() }));
        Assert.Contains("Down residual 2", e.Message);
        e = Assert.Throws<DiffusionException>(() => model.Forward(x, t, c, r with { Mid = zeros(2, 32, 4, 4) }));
        Assert.Contains("mid residual", e.Message);
    }

    [Fact]
    public void AFieldTheModelWasNotBuiltForIsNamed()
    {
        using var scope = NewDisposeScope();
        var (model, x, t, c) = Setup();
        var e = Assert.Throws<DiffusionException>(() => model.Predict(x, t, c.With(Condition.Fields.Context, zeros(2, 5, 8))));
        Assert.Contains("context", e.Message);
        var unconditional = Build(Small(sampleSize: 16, multipliers: [1, 2]));
        e = Assert.Throws<DiffusionException>(() => unconditional.Predict(x, t, c));
        Assert.Contains("labels", e.Message);
    }
}
