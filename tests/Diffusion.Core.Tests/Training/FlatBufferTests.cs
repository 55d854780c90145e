using Diffusion.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Tests.Training;

public class FlatBufferTests
{
    private static nn.Module<Tensor, Tensor> Net(long seed)
    {
        manual_seed(seed);
        return nn.Sequential(
            ("conv", nn.Conv2d(16, 16, 3, padding: 1)), ("act", nn.SiLU()),
            ("flat", nn.Flatten()), ("fc", nn.Linear(16 * 4 * 4, 16)));
    }

    private static Dictionary<string, Tensor> Grads(nn.Module<Tensor, Tensor> net)
        => net.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.to(ScalarType.Float32).clone());

    [Theory]
    [InlineData(Precision.Float32)]
    [InlineData(Precision.BFloat16)]
    public void Parameters_and_gradients_live_in_the_flat_buffers(Precision precision)
    {
        using var scope = NewDisposeScope();
        var flatNet = Net(1);
        var plainNet = Net(1);
        if (precision == Precision.BFloat16) plainNet.to(ScalarType.BFloat16);
        using var weights = new MasterWeights(flatNet, precision);
        var dtype = precision == Precision.BFloat16 ? ScalarType.BFloat16 : ScalarType.Float32;
        var x = randn(new long[] { 4, 16, 4, 4 }, generator: new Generator(3)).to(dtype);

        // Two backward passes: gradients accumulate in place in the flat buffer, exactly like separate tensors.
        for (int i = 0; i < 2; i++)
        {
            flatNet.forward(x).square().sum().backward();
            plainNet.forward(x).square().sum().backward();
        }
        var expected = Grads(plainNet);
        var flat = weights.Gradients();
        Assert.Equal(weights.Layout.Count, flat.numel());
        foreach (var (name, view) in weights.Layout.Views(flat))
            Assert.True(view.allclose(expected[name], rtol: 1e-5, atol: 1e-6), $"gradient of {name} differs");

        // Zeroing the buffer zeroes every parameter's gradient.
        weights.ZeroGradients();
        foreach (var (_, p) in flatNet.named_parameters()) Assert.Equal(0.0, p.grad!.abs().sum().to(ScalarType.Float64).item<double>());

        // Writing the masters and pushing reaches the network's parameters.
        weights.Master.fill_(0.25f);
        weights.PushToNetwork();
        foreach (var (name, p) in flatNet.named_parameters())
            Assert.True(p.to(ScalarType.Float32).eq(0.25f).all().item<bool>(), $"{name} not updated from the master buffer");
    }

    [Fact]
    public void A_replaced_gradient_is_reported_not_silently_lost()
    {
        using var scope = NewDisposeScope();
        var net = Net(2);
        using var weights = new MasterWeights(net, Precision.Float32);
        net.named_parameters().Last().parameter.grad = null;
        var e = Assert.Throws<InvalidOperationException>(() => weights.Gradients());
        Assert.Contains("fc.bias", e.Message);
    }

    [Fact]
    public void Flat_AdamW_matches_TorchSharp_AdamW()
    {
        using var scope = NewDisposeScope();
        var reference = Net(5);
        var ours = Net(5);
        var opt = optim.AdamW(reference.parameters(), lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weight_decay: 0.05);
        using var weights = new MasterWeights(ours, Precision.Float32);
        using var adam = new AdamW(weights.Layout, 0.9, 0.99, 1e-8, 0.05);
        var g = new Generator(7);
        for (int step = 0; step < 5; step++)
        {
            var x = randn(new long[] { 4, 16, 4, 4 }, generator: g);
            opt.zero_grad();
            reference.forward(x).square().mean().backward();
            opt.step();
            ours.forward(x).square().mean().backward();
            adam.Step(weights.Master, weights.Gradients(), 1e-2);
            weights.ZeroGradients();
        }
        var expected = reference.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, w) in weights.Masters)
            Assert.True(w.allclose(expected[name], rtol: 1e-4, atol: 1e-6), $"{name} differs from torch.optim.AdamW");
        Assert.Equal(5, adam.Steps);
    }

    [Fact]
    public void Optimizer_and_EMA_state_round_trip_by_name()
    {
        using var scope = NewDisposeScope();
        var net = Net(6);
        using var weights = new MasterWeights(net, Precision.BFloat16);
        using var adam = new AdamW(weights.Layout, 0.9, 0.99);
        using var ema = new ExponentialMovingAverage(weights.Layout, weights.Master, 0.9);
        net.forward(randn(2, 16, 4, 4).to(ScalarType.BFloat16)).sum().backward();
        adam.Step(weights.Master, weights.Gradients(), 1e-3);
        var before = ema.Weights.ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        ema.Update(weights.Master, 0);
        // decay warm-up: d = min(0.9, 1/10) = 0.1, so the average moves 90 % of the way.
        foreach (var (name, w) in weights.Masters)
            Assert.True(ema.Weights[name].allclose(before[name] * 0.1 + w * 0.9, rtol: 1e-5, atol: 1e-7));

        var saved = adam.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        using var restored = new AdamW(weights.Layout, 0.9, 0.99);
        restored.LoadStateDict(saved);
        Assert.Equal(1, restored.Steps);
        foreach (var (k, t) in restored.StateDict()) Assert.True(t.equal(saved[k]).all().item<bool>(), k);

        saved.Remove("m.fc.bias");
        var e = Assert.Throws<DiffusionException>(() => restored.LoadStateDict(saved));
        Assert.Contains("m.fc.bias", e.Message);
    }
}
