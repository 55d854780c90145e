using Diffusion.Core;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Diffusion.Samplers.Tests;

/// <summary>
/// The stochastic samplers (DDPM, Euler ancestral) do not follow one path as the step count grows, so their convergence is
/// in distribution: on the Gaussian data N(mu, s²) with the exact denoiser, the spread of the samples must approach s as
/// steps grow (the discretisation bias of the reverse SDE shrinks), well past the statistical noise of the batch.
/// </summary>
public sealed class WeakConvergenceTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("ddpm")]
    [InlineData("euler_a")]
    public void TheSpreadApproachesTheDataSpreadAsStepsGrow(string name)
    {
        using var scope = NewDisposeScope();
        var view = Fixtures.Gaussian();
        var sampler = SamplerRegistry.Create(name);
        int[] steps = [5, 20, 80, 320];
        var errors = new List<double>();
        foreach (int n in steps)
        {
            using var step = NewDisposeScope();
            var (mean, std) = Fixtures.Moments(sampler.Sample(view, Fixtures.Request(8_000, n, seed: 8)));
            errors.Add(Math.Abs(std - Fixtures.S) + Math.Abs(mean - Fixtures.Mu));
        }
        output.WriteLine($"{name}: " + string.Join(", ", steps.Zip(errors, (n, e) => $"N={n}: {e:E2}")));
        // 32,000 values per batch: the moments' own noise is about 0.3/sqrt(2·32000) ≈ 1.2e-3.
        Assert.True(errors[0] > 4 * errors[^1], $"the error did not fall with more steps: {string.Join(", ", errors)}");
        Assert.True(errors[^1] < 0.02, $"at {steps[^1]} steps the moments are still off by {errors[^1]:E2}");
    }
}
