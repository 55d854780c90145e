using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Samplers.Tests;

public sealed class StepHookTests
{
    public static TheoryData<string> Names() => new(Fixtures.Names);

    /// <summary>The hook sees each step's sample with its noise level in the sampler's own scaling: for Gaussian data
    /// N(mu, s²) and the exact denoiser, that sample has mean Alpha·mu and spread sqrt(Alpha²·s² + Sigma²).</summary>
    [Theory]
    [MemberData(nameof(Names))]
    public void TheHookSeesEveryStepAtItsNoiseLevel(string name)
    {
        using var scope = NewDisposeScope();
        var steps = new List<(NoiseLevel Level, double Mean, double Std)>();
        var request = Fixtures.Request(2000, 50, seed: 3) with
        {
            StepHook = s => { var (m, sd) = Fixtures.Moments(s.Sample); steps.Add((s.Level, m, sd)); return null; },
        };
        SamplerRegistry.Create(name).Sample(Fixtures.Gaussian(), request);
        Assert.Equal(50, steps.Count);
        Assert.Equal(0, steps[^1].Level.Sigma, 6);
        foreach (var (level, mean, std) in steps.Take(steps.Count - 1))
        {
            double expectedStd = Math.Sqrt(level.Alpha * level.Alpha * Fixtures.S * Fixtures.S + level.Sigma * level.Sigma);
            Assert.InRange(mean / level.Alpha, Fixtures.Mu - 0.08 * Math.Max(1, level.Sigma / level.Alpha), Fixtures.Mu + 0.08 * Math.Max(1, level.Sigma / level.Alpha));
            Assert.InRange(std / expectedStd, 0.85, 1.15); // 50 steps: DDPM and Euler a carry a few per cent of discretisation bias; a wrong scaling is off many-fold
        }
    }

    /// <summary>Inpainting's "keep the known pixels": a hook that resets half of the sample to a known image, noised to
    /// the step's level, ends with that half equal to the image, whatever the sampler.</summary>
    [Theory]
    [MemberData(nameof(Names))]
    public void AReplacedSampleIsCarriedOn(string name)
    {
        using var scope = NewDisposeScope();
        var known = full(new long[] { 8, 1, 2, 2 }, -0.75f);
        var mask = zeros(8, 1, 2, 2);
        mask[.., .., .., 0] = 1; // left column known
        var noise = new Generator(11, CPU);
        int calls = 0;
        var request = Fixtures.Request(8, 12, seed: 4) with
        {
            StepHook = s =>
            {
                calls++;
                var noised = known * s.Level.Alpha + randn(s.Sample.shape, generator: noise) * s.Level.Sigma;
                return s.Sample * (1 - mask) + noised * mask;
            },
        };
        var x = SamplerRegistry.Create(name).Sample(Fixtures.Gaussian(), request);
        Assert.True(calls >= 12);
        Assert.True((x.index_select(3, tensor(new long[] { 0 })) + 0.75f).abs().max().item<float>() < 1e-5);
        Assert.True((x.index_select(3, tensor(new long[] { 1 })) + 0.75f).abs().max().item<float>() > 0.1); // the rest is sampled
    }

    [Fact]
    public void AHookReturningAnotherShapeIsOneError()
    {
        using var scope = NewDisposeScope();
        var request = Fixtures.Request(2, 3) with { StepHook = _ => zeros(1, 1, 2, 2) };
        var e = Assert.Throws<DiffusionException>(() => new DdimSampler().Sample(Fixtures.Gaussian(), request));
        Assert.Contains("step hook", e.Message);
    }
}
