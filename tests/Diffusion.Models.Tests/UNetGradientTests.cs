using Diffusion.Core;
using TorchSharp;
using static Diffusion.Models.Tests.TestModels;
using static TorchSharp.torch;

namespace Diffusion.Models.Tests;

/// <summary>
/// The float32 network against the same network in float64: outputs and every gradient must agree. This checks
/// the model and also the CPU kernels under it (libtorch's oneDNN convolutions return wrong values for channel
/// counts that are not multiples of 16 unless <c>ChannelPaddedConv2d</c> pads them).
/// </summary>
[Collection(TorchCollection.Name)]
public sealed class UNetGradientTests
{
    public static TheoryData<string> Configs => new() { "awkward-channels", "rgb", "mnist" };

    private static UNetOptions Get(string name) => name switch
    {
        // 8 and 16 channels: the up path concatenates 24 channels; conv_out has 1 output channel.
        "awkward-channels" => Small(classes: 3) with { BaseChannels = 8, AttentionHeadDim = 8, GroupNormGroups = 4 },
        "rgb" => Small(inChannels: 3, classes: 3) with { BaseChannels = 24, GroupNormGroups = 8, AttentionHeadDim = 8 },
        _ => UNetPresets.Mnist,
    };

    [Theory]
    [MemberData(nameof(Configs))]
    public void Float32GradientsMatchFloat64(string config)
    {
        using var scope = NewDisposeScope();
        var o = Get(config);
        using var model = Build(o, seed: 3);
        using var reference = Build(o, seed: 3);
        reference.to(ScalarType.Float64);
        var x = Noise(o, 3);
        var t = Timesteps(0.5f, 300, 999);
        var cond = o.NumClasses is int k ? new Condition { Labels = Labels(0, k, 1) } : Condition.None;
        var weights = randn(x.shape, generator: new Generator(5, CPU));

        var y = model.forward(x, t, cond);
        (y * weights).sum().backward();
        var yRef = reference.forward(x.to(ScalarType.Float64), t, cond);
        (yRef * weights).sum().backward();

        Assert.True(MaxAbsDiff(y, yRef) < 1e-4f, $"output differs by {MaxAbsDiff(y, yRef)}");
        var refGrads = reference.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!);
        foreach (var (name, p) in model.named_parameters())
        {
            var g = p.grad!.to(ScalarType.Float64);
            var r = refGrads[name];
            double scale = r.abs().max().ToDouble();
            if (scale < 1e-6) continue; // e.g. the key bias: attention is invariant to it, its gradient is ~0.
            double err = (g - r).abs().max().ToDouble();
            Assert.True(err < 1e-3 * scale, $"{name}: gradient differs by {err} (scale {scale})");
        }
    }
}
