using Diffusion.Core;
using TorchSharp;
using static Diffusion.Models.Tests.TestModels;
using static TorchSharp.torch;

namespace Diffusion.Models.Tests;

[Collection(TorchCollection.Name)]
public sealed class UNetPrecisionTests
{
    [Fact]
    public void BFloat16ModelReturnsFloat32AndEveryParameterGetsAGradient()
    {
        using var scope = NewDisposeScope();
        var o = Small(classes: 3);
        using var model = Build(o);
        model.to(ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, model.ParameterType);
        var x = Noise(o, 2);
        var y = model.Predict(x, Timesteps(0.5f, 999f), new Condition { Labels = Labels(1, 3) });
        Assert.Equal(ScalarType.Float32, y.dtype);
        Assert.Equal(x.shape, y.shape);
        var loss = (y - x).square().mean();
        loss.backward();
        foreach (var (name, p) in model.named_parameters())
        {
            var g = p.grad;
            Assert.True(g is not null, $"{name} has no gradient");
            Assert.Equal(ScalarType.BFloat16, g!.dtype);
            Assert.True(g.isfinite().all().ToBoolean(), $"{name} has a non-finite gradient");
        }
        Assert.Contains(model.named_parameters(), p => p.parameter.grad!.abs().sum().ToSingle() > 0);
    }

    [Fact]
    public void BFloat16OutputIsCloseToFloat32()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var o = Small(classes: 3);
        using var model = Build(o);
        var x = Noise(o, 2);
        var t = Timesteps(10, 900);
        var cond = new Condition { Labels = Labels(0, 2) };
        var full = model.Predict(x, t, cond);
        model.to(ScalarType.BFloat16);
        var half = model.Predict(x, t, cond);
        float scale = full.abs().max().ToSingle();
        Assert.True(MaxAbsDiff(full, half) < 0.1f * scale, $"bf16 differs by {MaxAbsDiff(full, half)} (scale {scale})");
    }

    [Fact]
    public void SameGeneratorSeedGivesSameNetwork()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var o = Small(classes: 2);
        using var a = Build(o, seed: 7);
        using var b = Build(o, seed: 7);
        using var c = Build(o, seed: 8);
        var x = Noise(o, 2);
        var t = Timesteps(3, 300);
        var cond = new Condition { Labels = Labels(0, 1) };
        Assert.Equal(0f, MaxAbsDiff(a.Predict(x, t, cond), b.Predict(x, t, cond)));
        Assert.True(MaxAbsDiff(a.Predict(x, t, cond), c.Predict(x, t, cond)) > 0);
        var sa = a.state_dict();
        foreach (var (key, value) in b.state_dict()) Assert.True(value.equal(sa[key]).all().ToBoolean(), key);
    }

    [Fact]
    public void GlobalSeedGivesSameNetworkWithoutGenerator()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var o = Small();
        manual_seed(123);
        using var a = new UNet(o);
        manual_seed(123);
        using var b = new UNet(o);
        var x = Noise(o, 1);
        Assert.Equal(0f, MaxAbsDiff(a.Predict(x, Timesteps(9), Condition.None), b.Predict(x, Timesteps(9), Condition.None)));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void InitialisationMatchesPyTorchDefaults(bool withGenerator)
    {
        using var scope = NewDisposeScope();
        using var model = withGenerator ? Build(UNetPresets.Tiny) : new UNet(UNetPresets.Tiny);
        var sd = model.state_dict();
        // conv_in: fan_in = 1·3·3, so weights lie in ±1/3.
        Assert.InRange(sd["conv_in.weight"].abs().max().ToSingle(), 0.2f, 1f / 3);
        // Every group norm starts as the identity (TorchSharp's nn.GroupNorm alone leaves garbage here).
        var norms = sd.Where(kv => kv.Key.Contains("norm", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(norms);
        foreach (var (key, value) in norms)
            Assert.True(value.eq(key.EndsWith(".weight", StringComparison.Ordinal) ? 1 : 0).all().ToBoolean(), key);
    }
}
