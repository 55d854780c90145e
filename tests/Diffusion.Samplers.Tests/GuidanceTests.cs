using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Samplers.Tests;

/// <summary>Classifier-free guidance on a class-conditional Gaussian: class k has mean ClassMeans[k], the
/// "no class" label 2 has mean mu.</summary>
public sealed class GuidanceTests
{
    private static readonly double[] ClassMeans = [-0.4, 0.7];
    private static readonly LabelConditioner Labels = new(2);

    private static GaussianDenoiser Model(Prediction prediction = Prediction.Epsilon)
        => new(Fixtures.Linear, Fixtures.Mu, Fixtures.S, prediction, ClassMeans);

    private static Condition Classes(params long[] labels) => new() { Labels = tensor(labels) };

    private static (Tensor X, Tensor T) Input(long batch = 4, float t = 400f, long seed = 1)
        => (randn(new[] { batch, 1, 2, 2 }, generator: Devices.Generator(seed)), full(new[] { batch }, t));

    [Fact]
    public void ScaleOneIsExactlyTheConditionalModelInOnePass()
    {
        using var scope = NewDisposeScope();
        var model = Model();
        var (x, t) = Input();
        var cond = Classes(0, 1, 0, 1);
        var guided = new ClassifierFreeGuidance(model, 1.0, Labels).Predict(x, t, cond);
        Assert.Equal(1, model.Calls);
        Assert.True(Fixtures.Same(guided, model.Predict(x, t, cond)));
    }

    [Fact]
    public void ScaleOneThroughTheBatchedPathMatchesTheConditionalModel()
    {
        // Rescale forces the batched path; at w = 1 the guided prediction is the conditional one, whose std
        // it already has, so rescaling changes nothing but rounding.
        using var scope = NewDisposeScope();
        var model = Model(Prediction.V);
        var (x, t) = Input();
        var cond = Classes(0, 1, 1, 0);
        var guided = new ClassifierFreeGuidance(model, 1.0, Labels, new GuidanceOptions { Rescale = 0.7 }).Predict(x, t, cond);
        Assert.Equal(8, model.LastBatch);
        Assert.True(Fixtures.Rms(guided, model.Predict(x, t, cond)) < 1e-6);
    }

    [Fact]
    public void ScaleZeroIsTheUnconditionalModel()
    {
        using var scope = NewDisposeScope();
        var model = Model();
        var (x, t) = Input();
        var cond = Classes(0, 1, 0, 1);
        var uncond = model.Predict(x, t, Labels.Unconditional(4, CPU));
        Assert.True(Fixtures.Same(new ClassifierFreeGuidance(model, 0.0, Labels).Predict(x, t, cond), uncond));
        // Batched path (an interval covering every timestep): same values.
        var batched = new ClassifierFreeGuidance(model, 0.0, Labels, new GuidanceOptions { Interval = new(0, 999) }).Predict(x, t, cond);
        Assert.Equal(8, model.LastBatch);
        Assert.True(Fixtures.Rms(batched, uncond) < 1e-7);
    }

    [Fact]
    public void GuidedPredictionIsUncondPlusScaleTimesDifferenceInOneBatchedCall()
    {
        using var scope = NewDisposeScope();
        var model = Model();
        var (x, t) = Input();
        var cond = Classes(1, 0, 1, 0);
        var expected = model.Predict(x, t, Labels.Unconditional(4, CPU)) * (1 - 3.5) + model.Predict(x, t, cond) * 3.5;
        int calls = model.Calls;
        var guided = new ClassifierFreeGuidance(model, 3.5, Labels).Predict(x, t, cond);
        Assert.Equal(calls + 1, model.Calls);
        Assert.Equal(8, model.LastBatch);
        Assert.True(Fixtures.Rms(guided, expected) < 1e-5);
    }

    [Fact]
    public void GuidanceGivesTheSameX0WhateverTheParameterization()
    {
        using var scope = NewDisposeScope();
        var (x, _) = Input(seed: 4);
        var cond = Classes(0, 1, 0, 1);
        var x0s = Fixtures.Predictions.Select(p =>
        {
            var view = new DenoiserView(new ClassifierFreeGuidance(Model(p), 4.0, Labels), Fixtures.Linear);
            return view.AtTimestep(x, 300, cond).X0;
        }).ToArray();
        Assert.True(Fixtures.Rms(x0s[0], x0s[1]) < 1e-4, $"eps vs v: {Fixtures.Rms(x0s[0], x0s[1])}");
        Assert.True(Fixtures.Rms(x0s[0], x0s[2]) < 1e-4, $"eps vs x0: {Fixtures.Rms(x0s[0], x0s[2])}");
    }

    [Fact]
    public void IntervalGuidesOnlyTheTimestepsInside()
    {
        using var scope = NewDisposeScope();
        var model = Model();
        var (x, _) = Input();
        var t = tensor(new[] { 100f, 300f, 500f, 900f });
        var cond = Classes(0, 1, 0, 1);
        var plain = new ClassifierFreeGuidance(model, 5.0, Labels).Predict(x, t, cond);
        var conditional = model.Predict(x, t, cond);
        var windowed = new ClassifierFreeGuidance(model, 5.0, Labels, new GuidanceOptions { Interval = new(250, 600) }).Predict(x, t, cond);
        foreach (var (row, inside) in new[] { (0, false), (1, true), (2, true), (3, false) })
            Assert.True(Fixtures.Same(windowed[row], inside ? plain[row] : conditional[row]), $"row {row}");
    }

    [Fact]
    public void RescaleMatchesTheConditionalStdPerSampleAndMixesByPhi()
    {
        // A model whose conditional output is 2x and unconditional x: at w = 7 the guided output is 8x, its
        // std four times the conditional's. phi = 1 rescales it to 2x; phi = 0.5 gives 0.5·2x + 0.5·8x = 5x.
        using var scope = NewDisposeScope();
        var model = new LabelScaleDenoiser();
        var (x, t) = Input();
        var cond = Classes(0, 1, 0, 1);
        var full = new ClassifierFreeGuidance(model, 7.0, Labels, new GuidanceOptions { Rescale = 1.0 }).Predict(x, t, cond);
        var half = new ClassifierFreeGuidance(model, 7.0, Labels, new GuidanceOptions { Rescale = 0.5 }).Predict(x, t, cond);
        Assert.True(Fixtures.Rms(full, x * 2) < 1e-5);
        Assert.True(Fixtures.Rms(half, x * 5) < 1e-5);
    }

    private sealed class LabelScaleDenoiser : IDenoiser
    {
        public Prediction Prediction => Prediction.Epsilon;

        public Tensor Predict(Tensor x, Tensor t, Condition condition)
        {
            using var scope = NewDisposeScope();
            var scale = condition.Labels!.eq(2).to(ScalarType.Float32).neg().add(2).reshape(-1, 1, 1, 1); // 1 if unconditional else 2
            return (x * scale).MoveToOuterDisposeScope();
        }
    }

    [Theory]
    [InlineData(-0.5)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void InvalidScaleThrows(double scale)
    {
        var e = Assert.Throws<DiffusionException>(() => new ClassifierFreeGuidance(Model(), scale, Labels));
        Assert.Contains("guidance scale", e.Message);
    }

    [Fact]
    public void InvalidOptionsThrow()
    {
        Assert.Throws<DiffusionException>(() => new GuidanceOptions { Rescale = 1.5 });
        Assert.Throws<DiffusionException>(() => new GuidanceOptions { Interval = new(500, 100) });
        Assert.Throws<DiffusionException>(() => new GuidanceOptions { Interval = new(-1, 100) });
    }

    [Fact]
    public void SamplingWithScaleOneEqualsSamplingTheConditionalModel()
    {
        using var scope = NewDisposeScope();
        var request = Fixtures.Request(4, 10, seed: 9) with { Condition = Classes(0, 1, 0, 1) };
        var direct = new DpmSolverPlusPlus2MSampler().Sample(new DenoiserView(Model(), Fixtures.Linear), request);
        var guided = new DpmSolverPlusPlus2MSampler().Sample(new DenoiserView(new ClassifierFreeGuidance(Model(), 1.0, Labels), Fixtures.Linear), request with { Generator = Devices.Generator(9) });
        Assert.True(Fixtures.Same(direct, guided));
    }

    [Fact]
    public void StrongGuidancePullsSamplesTowardTheirClass()
    {
        using var scope = NewDisposeScope();
        var labels = arange(512, dtype: ScalarType.Int64).remainder(2); // 0, 1, 0, 1, …
        var request = Fixtures.Request(512, 30, seed: 10) with { Condition = new Condition { Labels = labels } };
        var view = new DenoiserView(new ClassifierFreeGuidance(Model(), 3.0, Labels), Fixtures.Linear);
        var x = new DpmSolverPlusPlus2MSampler().Sample(view, request);
        var rowMeans = x.mean(new long[] { 1, 2, 3 }); // (B)
        double mean0 = rowMeans[labels.eq(0)].mean().item<float>(), mean1 = rowMeans[labels.eq(1)].mean().item<float>();
        // Guidance extrapolates away from the unconditional mean 0.5, past each class mean.
        Assert.True(mean0 < ClassMeans[0] && mean1 > ClassMeans[1], $"class means {mean0}, {mean1}");
    }

    [Fact]
    public void IntervalFromSigmaMapsNoiseLevelsToTheScheduleTimesteps()
    {
        var interval = TimestepInterval.FromSigma(Fixtures.Linear, 0.28, 5.42);
        Assert.True(interval.Low > 0 && interval.High > interval.Low && interval.High < Fixtures.Linear.TrainSteps - 1);
        Assert.Equal(0.28, Fixtures.Linear.SigmaAt(interval.Low), 3);
        Assert.Equal(5.42, Fixtures.Linear.SigmaAt(interval.High), 3);
    }
}
