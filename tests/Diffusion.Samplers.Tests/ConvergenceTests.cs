using Diffusion.Core;
using Xunit.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Samplers.Tests;

/// <summary>
/// Order of convergence of the deterministic solvers on the Gaussian, where the probability-flow ODE is
/// solvable in closed form: in the VE view x − mu scales as sqrt(s² + sigma²), so the exact path from
/// x(sigma_max) = sigma_max·z reaches x* = mu + (x − mu)·sqrt(s² + sigma_min²)/sqrt(s² + sigma_max²) at
/// sigma_min, and every Karras-schedule solver ends with the data prediction D(x*; sigma_min). (DDIM steps
/// from sigma(T−1) to 0, where the exact answer is mu + (x − mu)·s/sqrt(s² + sigma_max²).) The error
/// against this exact answer is fitted against the step count on the same initial noise; its log-log slope
/// is minus the order.
/// </summary>
public sealed class ConvergenceTests(ITestOutputHelper output)
{
    private const long Batch = 64;

    public static TheoryData<string, Prediction, int[], double, double> Cases() => new()
    {
        // sampler, parameterization, step counts, lowest and highest accepted order
        { "euler", Prediction.Epsilon, [16, 32, 64, 128, 256], 0.8, 1.3 },
        { "ddim", Prediction.V, [16, 32, 64, 128, 256], 0.8, 1.3 },
        { "heun", Prediction.Epsilon, [16, 32, 64, 128], 1.7, 2.5 },
        { "heun", Prediction.Sample, [16, 32, 64, 128], 1.7, 2.5 },
        { "dpmpp_2m", Prediction.Epsilon, [16, 32, 64, 128], 1.7, 2.5 },
        { "dpmpp_2m", Prediction.V, [16, 32, 64, 128], 1.7, 2.5 },
        // 3M's first (Euler) warm-up step has local error O(h²), so asymptotically it is second order with a
        // tiny constant; over practical step counts it fits between 2 and 3.
        { "dpmpp_3m", Prediction.Epsilon, [24, 32, 48, 64], 2.3, 3.7 },
        // UniP-2 with the UniC corrector is third order (Zhao et al. 2023, Theorem 3.3).
        { "unipc", Prediction.Epsilon, [16, 24, 32, 48, 64], 2.5, 3.7 },
        { "unipc", Prediction.Sample, [16, 24, 32, 48, 64], 2.5, 3.7 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ErrorFallsAtTheSolversOrder(string name, Prediction prediction, int[] steps, double minOrder, double maxOrder)
    {
        using var scope = NewDisposeScope();
        var view = Fixtures.Gaussian(prediction);
        var sampler = SamplerRegistry.Create(name);
        var errors = new List<double>();
        foreach (int n in steps)
        {
            using var step = NewDisposeScope();
            var x = sampler.Sample(view, Fixtures.Request(Batch, n, seed: 3));
            errors.Add(Fixtures.Rms(x, Exact(name, Batch, seed: 3)));
        }
        double order = -Fixtures.LogLogSlope(steps.Select(n => (double)n).ToArray(), errors);
        output.WriteLine($"{name} {prediction}: " + string.Join(", ", steps.Zip(errors, (n, e) => $"N={n}: {e:E2}")) + $"; fitted order {order:F2}");
        Assert.InRange(order, minOrder, maxOrder);
    }

    [Theory]
    [InlineData(1, false, new[] { 16, 32, 64, 128 }, 0.8, 1.3)]   // UniP-1 alone is DDIM / Euler
    [InlineData(1, true, new[] { 16, 32, 64, 128 }, 1.7, 2.5)]    // UniC lifts it by one order
    [InlineData(3, true, new[] { 24, 32, 48, 64 }, 2.5, 4.7)]
    public void UniPcOrderOptionSetsTheOrder(int order, bool corrector, int[] steps, double minOrder, double maxOrder)
    {
        using var scope = NewDisposeScope();
        var sampler = new UniPcSampler(new UniPcOptions { Order = order, UseCorrector = corrector });
        var errors = steps.Select(n =>
        {
            using var step = NewDisposeScope();
            return Fixtures.Rms(sampler.Sample(Fixtures.Gaussian(), Fixtures.Request(Batch, n, seed: 3)), Exact("unipc", Batch, seed: 3));
        }).ToArray();
        double fitted = -Fixtures.LogLogSlope(steps.Select(n => (double)n).ToArray(), errors);
        output.WriteLine($"unipc p={order} corrector={corrector}: " + string.Join(", ", steps.Zip(errors, (n, e) => $"N={n}: {e:E2}")) + $"; fitted order {fitted:F2}");
        Assert.InRange(fitted, minOrder, maxOrder);
    }

    [Fact]
    public void ExactAnswerAgreesWithAThousandHeunSteps()
    {
        using var scope = NewDisposeScope();
        var x = new HeunSampler().Sample(Fixtures.Gaussian(), Fixtures.Request(Batch, 1024, seed: 3));
        double error = Fixtures.Rms(x, Exact("heun", Batch, seed: 3));
        output.WriteLine($"heun N=1024 vs exact: {error:E2}");
        Assert.True(error < 2e-5, $"rms {error}");
    }

    /// <summary>The exact output of the probability-flow ODE for the sampler's initial noise (see the class summary).</summary>
    private static Tensor Exact(string name, long batch, long seed)
    {
        var schedule = Fixtures.Linear;
        double mu = Fixtures.Mu, s = Fixtures.S;
        var z = randn(new[] { batch, 1, 2, 2 }, dtype: ScalarType.Float32, generator: Devices.Generator(seed)).to(ScalarType.Float64);
        var (sigmaMin, sigmaMax) = schedule.SigmaRange();
        if (name == "ddim")
        {
            var xVe = z * Math.Sqrt(1 + sigmaMax * sigmaMax);   // x_T = z in VP scaling
            return mu + (xVe - mu) * (s / Math.Sqrt(s * s + sigmaMax * sigmaMax));
        }
        var x = z * sigmaMax;
        var atMin = mu + (x - mu) * (Math.Sqrt(s * s + sigmaMin * sigmaMin) / Math.Sqrt(s * s + sigmaMax * sigmaMax));
        return mu + (atMin - mu) * (s * s / (s * s + sigmaMin * sigmaMin));
    }
}
