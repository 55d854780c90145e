using Diffusion.Core;
using Diffusion.Core.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Samplers.Tests;

/// <summary>The contract every sampler keeps: seeding, validation, cancellation, progress, callbacks,
/// image-to-image starts and flat memory.</summary>
public sealed class BehaviourTests
{
    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var name in Fixtures.Names) data.Add(name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void SameSeedGivesIdenticalOutputAndAnotherSeedDiffers(string name)
    {
        using var scope = NewDisposeScope();
        var sampler = SamplerRegistry.Create(name);
        var view = Fixtures.Gaussian();
        var a = sampler.Sample(view, Fixtures.Request(8, 6, seed: 11));
        var b = sampler.Sample(view, Fixtures.Request(8, 6, seed: 11));
        var c = sampler.Sample(view, Fixtures.Request(8, 6, seed: 12));
        Assert.True(Fixtures.Same(a, b));
        Assert.False(Fixtures.Same(a, c));
        Assert.Equal(new long[] { 8, 1, 2, 2 }, a.shape);
        Assert.Equal(ScalarType.Float32, a.dtype);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void NullGeneratorMeansSeedZero(string name)
    {
        using var scope = NewDisposeScope();
        var sampler = SamplerRegistry.Create(name);
        var view = Fixtures.Gaussian();
        var a = sampler.Sample(view, Fixtures.Request(4, 5) with { Generator = null });
        var b = sampler.Sample(view, Fixtures.Request(4, 5, seed: 0));
        Assert.True(Fixtures.Same(a, b));
    }

    [Fact]
    public void DdimWithEtaZeroIsDeterministicGivenTheInitialNoise()
    {
        using var scope = NewDisposeScope();
        var generator = Devices.Generator(21);
        var request = Fixtures.Request(8, 10) with { Generator = generator };
        var a = new DdimSampler().Sample(Fixtures.Gaussian(), request);
        // Only x_T was drawn: the generator is exactly one draw past a fresh one.
        var fresh = Devices.Generator(21);
        var xT = randn(request.Shape, dtype: ScalarType.Float32, generator: fresh);
        Assert.True(Fixtures.Same(randn(request.Shape, generator: generator), randn(request.Shape, generator: fresh)));
        var b = new DdimSampler().Sample(Fixtures.Gaussian(), request with { Generator = Devices.Generator(21) });
        Assert.True(Fixtures.Same(a, b));
        Assert.NotNull(xT);
    }

    [Fact]
    public void DdimWithEtaOneEqualsDdpmWithPosteriorVariance()
    {
        // Song et al. 2021, Sec. 4.1: eta = 1 gives the DDPM posterior; with the same draws both agree.
        using var scope = NewDisposeScope();
        var view = Fixtures.Gaussian(Prediction.V);
        var ddim = new DdimSampler(new DdimOptions { Eta = 1 }).Sample(view, Fixtures.Request(64, 20, seed: 5));
        var ddpm = new DdpmSampler().Sample(view, Fixtures.Request(64, 20, seed: 5));
        Assert.True(Fixtures.Rms(ddim, ddpm) < 1e-5, $"rms {Fixtures.Rms(ddim, ddpm)}");
    }

    [Fact]
    public void EulerOnTheTimestepSigmasMatchesDdim()
    {
        // DDIM with eta = 0 is Euler in the VE view; they differ only in the start, sigma_max·z versus
        // sqrt(1 + sigma_max²)·z, a relative 2e-5 on the linear schedule.
        using var scope = NewDisposeScope();
        var view = Fixtures.Gaussian();
        var euler = new EulerSampler(new SigmaScheduleOptions { Spacing = SigmaSpacing.Timesteps }).Sample(view, Fixtures.Request(64, 25, seed: 6));
        var ddim = new DdimSampler().Sample(view, Fixtures.Request(64, 25, seed: 6));
        Assert.True(Fixtures.Rms(euler, ddim) < 1e-4, $"rms {Fixtures.Rms(euler, ddim)}");
    }

    [Fact]
    public void EulerAncestralWithEtaZeroIsEuler()
    {
        using var scope = NewDisposeScope();
        var view = Fixtures.Gaussian();
        var a = new EulerAncestralSampler(new EulerAncestralOptions { Eta = 0 }).Sample(view, Fixtures.Request(16, 12, seed: 4));
        var e = new EulerSampler().Sample(view, Fixtures.Request(16, 12, seed: 4));
        Assert.True(Fixtures.Same(a, e));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void InvalidRequestsThrowClearErrors(string name)
    {
        var sampler = SamplerRegistry.Create(name);
        var view = Fixtures.Gaussian();
        var ok = Fixtures.Request(2, 4);
        Assert.Contains("at least 1", Assert.Throws<DiffusionException>(() => sampler.Sample(view, ok with { Steps = 0 })).Message);
        Assert.Contains("4 positive dimensions", Assert.Throws<DiffusionException>(() => sampler.Sample(view, ok with { Shape = [2, 4, 4] })).Message);
        Assert.Contains("(0, 1]", Assert.Throws<DiffusionException>(() => sampler.Sample(view, ok with { Strength = 0 })).Message);
        Assert.Contains("(0, 1]", Assert.Throws<DiffusionException>(() => sampler.Sample(view, ok with { Strength = 1.5 })).Message);
        Assert.Contains("needs an InitImage", Assert.Throws<DiffusionException>(() => sampler.Sample(view, ok with { Strength = 0.5 })).Message);
        using var wrong = zeros(3, 1, 2, 2);
        Assert.Contains("does not match", Assert.Throws<DiffusionException>(() => sampler.Sample(view, ok with { InitImage = wrong })).Message);
    }

    [Theory]
    [InlineData("ddpm")]
    [InlineData("ddim")]
    public void DiscreteSamplersRejectMoreStepsThanTrainingSteps(string name)
    {
        var e = Assert.Throws<DiffusionException>(() => SamplerRegistry.Create(name).Sample(Fixtures.Gaussian(), Fixtures.Request(2, 1001)));
        Assert.Contains("between 1 and 1000", e.Message);
    }

    [Fact]
    public void ContinuousSamplersOnTimestepSigmasRejectMoreStepsThanTrainingSteps()
    {
        var sampler = new HeunSampler(new SigmaScheduleOptions { Spacing = SigmaSpacing.Timesteps });
        var e = Assert.Throws<DiffusionException>(() => sampler.Sample(Fixtures.Gaussian(), Fixtures.Request(2, 1001)));
        Assert.Contains("between 1 and 1000", e.Message);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void CancellationBetweenStepsThrows(string name)
    {
        var sampler = SamplerRegistry.Create(name);
        using var cts = new CancellationTokenSource();
        var progress = new ListProgress();
        var request = Fixtures.Request(2, 6) with { OnStep = s => { if (s.Step == 2) cts.Cancel(); } };
        Assert.ThrowsAny<OperationCanceledException>(() => sampler.Sample(Fixtures.Gaussian(), request, progress, cts.Token));
        Assert.Equal(2, progress.Reports.Count);

        var before = new ListProgress();
        Assert.ThrowsAny<OperationCanceledException>(() => sampler.Sample(Fixtures.Gaussian(), Fixtures.Request(2, 6), before, cts.Token));
        Assert.Empty(before.Reports);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void ReportsProgressAndCallsOnStepOncePerStep(string name)
    {
        using var scope = NewDisposeScope();
        var progress = new ListProgress();
        var steps = new List<(int Step, int Total, bool Grad, Tensor Sample, Tensor Denoised)>();
        var request = Fixtures.Request(4, 7) with
        {
            OnStep = s => steps.Add((s.Step, s.Total, is_grad_enabled(), s.Sample.clone().DetachFromDisposeScope(), s.Denoised.clone().DetachFromDisposeScope())),
        };
        var x = SamplerRegistry.Create(name).Sample(Fixtures.Gaussian(), request, progress);
        Assert.Equal(Enumerable.Range(1, 7).Select(i => new SamplingProgress(i, 7)), progress.Reports);
        Assert.Equal(Enumerable.Range(1, 7), steps.Select(s => s.Step));
        Assert.All(steps, s => Assert.Equal(7, s.Total));
        Assert.All(steps, s => Assert.False(s.Grad));
        Assert.All(steps, s => Assert.Equal(x.shape, s.Sample.shape));
        Assert.All(steps, s => Assert.True(s.Denoised.isfinite().all().item<bool>()));
        Assert.True(Fixtures.Rms(steps[^1].Sample, x) < 1e-6, "the last step's sample is the output");
        foreach (var s in steps) { s.Sample.Dispose(); s.Denoised.Dispose(); }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void LowStrengthStaysNearTheInitImage(string name)
    {
        using var scope = NewDisposeScope();
        var sampler = SamplerRegistry.Create(name);
        var view = Fixtures.Gaussian();
        var init = full(new long[] { 256, 1, 2, 2 }, 0.2f);
        var request = Fixtures.Request(256, 50) with { InitImage = init };

        var low = new ListProgress();
        var near = sampler.Sample(view, request with { Strength = 0.02 }, low);
        Assert.Equal(1, low.Reports[^1].Total);        // round(50·0.02) steps from the noised init image
        Assert.True(Fixtures.Rms(near, init) < 0.1, $"strength 0.02: rms {Fixtures.Rms(near, init)}");

        var half = new ListProgress();
        sampler.Sample(view, request with { Strength = 0.5 }, half);
        Assert.Equal(25, half.Reports.Count);

        var far = sampler.Sample(view, request with { Strength = 1.0 });
        Assert.True(Fixtures.Rms(far, init) > 0.35, $"strength 1: rms {Fixtures.Rms(far, init)}");
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void MemoryStaysFlatAndNothingLeaks(string name)
    {
        var sampler = SamplerRegistry.Create(name);
        var view = Fixtures.Gaussian();
        var live = new List<long>();
        var request = Fixtures.Request(4, 12) with { OnStep = _ => live.Add(DisposeScopeManager.Statistics.ThreadTotalLiveCount) };
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        using (var x = sampler.Sample(view, request)) { }
        long after = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        Assert.Equal(before, after);
        Assert.Equal(12, live.Count);
        Assert.Equal(live[3], live[9]);     // past the multistep warm-up, every step holds the same tensors
    }

    [Fact]
    public void ZeroTerminalSnrScheduleSamplesWithVPrediction()
    {
        using var scope = NewDisposeScope();
        var schedule = new NoiseSchedule(new ScheduleOptions { ZeroTerminalSnr = true });
        var view = new DenoiserView(new GaussianDenoiser(schedule, Fixtures.Mu, Fixtures.S, Prediction.V), schedule);
        var sigmas = new SigmaScheduleOptions { Spacing = SigmaSpacing.Timesteps }.Build(schedule, 1000);
        Assert.All(sigmas, s => Assert.True(double.IsFinite(s)));
        for (int i = 1; i < sigmas.Length; i++) Assert.True(sigmas[i] < sigmas[i - 1]);
        foreach (var sampler in new ISampler[] { new DdimSampler(), new DpmSolverPlusPlus2MSampler(), new EulerSampler(new SigmaScheduleOptions { Spacing = SigmaSpacing.Timesteps }) })
        {
            var x = sampler.Sample(view, Fixtures.Request(1024, 60, seed: 8));
            var (mean, std) = Fixtures.Moments(x);
            Assert.True(Math.Abs(mean - Fixtures.Mu) < 0.03 && Math.Abs(std - Fixtures.S) / Fixtures.S < 0.2, $"{sampler.Name}: mean {mean}, std {std}");
        }
    }
}
