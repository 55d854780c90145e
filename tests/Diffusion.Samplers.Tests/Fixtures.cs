using Diffusion.Core;
using Diffusion.Core.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Samplers.Tests;

/// <summary>Shared setup: the linear T = 1000 schedule, the Gaussian test data and small helpers.</summary>
internal static class Fixtures
{
    public const double Mu = 0.5;
    public const double S = 0.3;

    public static readonly NoiseSchedule Linear = new(new ScheduleOptions());

    public static IEnumerable<string> Names => SamplerRegistry.All.Select(i => i.Name);

    public static Prediction[] Predictions => [Prediction.Epsilon, Prediction.V, Prediction.Sample];

    public static DenoiserView Gaussian(Prediction prediction = Prediction.Epsilon, double mu = Mu, double s = S)
        => new(new GaussianDenoiser(Linear, mu, s, prediction), Linear);

    public static SamplingRequest Request(long batch, int steps, long seed = 0) => new()
    {
        Shape = [batch, 1, 2, 2],
        Steps = steps,
        Generator = Devices.Generator(seed),
    };

    /// <summary>Sample mean and standard deviation over all elements, in float64.</summary>
    public static (double Mean, double Std) Moments(Tensor x)
    {
        using var scope = NewDisposeScope();
        var d = x.to(ScalarType.Float64);
        return (d.mean().item<double>(), d.std().item<double>());
    }

    /// <summary>Same shape and bitwise-equal values.</summary>
    public static bool Same(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        return a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();
    }

    /// <summary>Root-mean-square difference, in float64.</summary>
    public static double Rms(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        var d = a.to(ScalarType.Float64) - b.to(ScalarType.Float64);
        return (d * d).mean().sqrt().item<double>();
    }

    /// <summary>Least-squares slope of log y against log x.</summary>
    public static double LogLogSlope(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        var lx = x.Select(v => Math.Log(v)).ToArray();
        var ly = y.Select(v => Math.Log(v)).ToArray();
        double mx = lx.Average(), my = ly.Average();
        double num = 0, den = 0;
        for (int i = 0; i < lx.Length; i++)
        {
            num += (lx[i] - mx) * (ly[i] - my);
            den += (lx[i] - mx) * (lx[i] - mx);
        }
        return num / den;
    }
}
