using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Samplers.Tests;

/// <summary>
/// The ideal denoiser for data x0 ~ N(mu, s²) per pixel: under x_t = a·x0 + sigma·eps,
/// E[x0 | x_t] = mu + a·s²/(a²s² + sigma²)·(x_t − a·mu) and E[eps | x_t] = sigma·(x_t − a·mu)/(a²s² + sigma²).
/// Returns eps, v or x0 as asked, so every sampler can be tested under every parameterization. With
/// <c>classMeans</c>, a row labelled k has mean classMeans[k] (label = classMeans.Length means "no class" → mu).
/// a and sigma come from the (fractional) timestep through the schedule, as a trained network would see them.
/// Computed in float64, returned in the input's dtype.
/// </summary>
public sealed class GaussianDenoiser : IDenoiser
{
    private readonly INoiseScheduler _schedule;
    private readonly double[]? _classMeans;

    public GaussianDenoiser(INoiseScheduler schedule, double mu, double s, Prediction prediction, double[]? classMeans = null)
    {
        _schedule = schedule;
        Mu = mu;
        S = s;
        Prediction = prediction;
        _classMeans = classMeans;
    }

    public double Mu { get; }
    public double S { get; }
    public Prediction Prediction { get; }

    /// <summary>Number of Predict calls and the batch size of the last one (to check CFG batching).</summary>
    public int Calls { get; private set; }
    public long LastBatch { get; private set; }

    public Tensor Predict(Tensor x, Tensor t, Condition condition)
    {
        Calls++;
        LastBatch = x.shape[0];
        using var scope = NewDisposeScope();
        var rows = RowScales(_schedule, t);
        long[]? labels = condition.Labels?.cpu().data<long>().ToArray();
        var mus = new double[rows.Length];
        for (int b = 0; b < mus.Length; b++)
            mus[b] = labels is not null && _classMeans is not null && labels[b] < _classMeans.Length ? _classMeans[labels[b]] : Mu;
        var shape = new long[] { rows.Length, 1, 1, 1 };
        var a = tensor(rows.Select(r => r.Alpha).ToArray(), dtype: ScalarType.Float64).reshape(shape);
        var sigma = tensor(rows.Select(r => r.Sigma).ToArray(), dtype: ScalarType.Float64).reshape(shape);
        var mu = tensor(mus, dtype: ScalarType.Float64).reshape(shape);
        var xd = x.to(ScalarType.Float64).cpu();
        var diff = xd - a * mu;
        var denom = a * a * (S * S) + sigma * sigma;
        var x0 = mu + a * diff * (S * S) / denom;
        var eps = sigma * diff / denom;
        var output = Prediction switch
        {
            Prediction.Epsilon => eps,
            Prediction.V => a * eps - sigma * x0,
            _ => x0,
        };
        return output.to(x.dtype, x.device).MoveToOuterDisposeScope();
    }

    /// <summary>(alpha, sigma) in VP form for each row's fractional timestep.</summary>
    public static (double Alpha, double Sigma)[] RowScales(INoiseScheduler schedule, Tensor t)
        => t.to(ScalarType.Float64).cpu().data<double>().ToArray().Select(tt =>
        {
            // Integer timesteps read the schedule directly (SigmaAt(T − 2) is NaN at zero terminal SNR: 0·∞).
            double ve = tt == Math.Floor(tt) ? schedule.Sigma((int)tt) : schedule.SigmaAt(tt);
            if (double.IsInfinity(ve)) return (0.0, 1.0);   // zero terminal SNR
            double alpha = 1 / Math.Sqrt(1 + ve * ve);
            return (alpha, ve * alpha);
        }).ToArray();
}

/// <summary>
/// The ideal denoiser for a per-pixel mixture of Gaussians sum_k w_k·N(mu_k, s_k²): the posterior over the
/// component from its likelihood N(x_t; a·mu_k, a²s_k² + sigma²), times each component's posterior mean.
/// Returns eps, v or x0.
/// </summary>
public sealed class GaussianMixtureDenoiser : IDenoiser
{
    private readonly INoiseScheduler _schedule;
    private readonly (double Weight, double Mu, double S)[] _components;

    public GaussianMixtureDenoiser(INoiseScheduler schedule, Prediction prediction, params (double Weight, double Mu, double S)[] components)
    {
        _schedule = schedule;
        _components = components;
        Prediction = prediction;
    }

    public Prediction Prediction { get; }

    public Tensor Predict(Tensor x, Tensor t, Condition condition)
    {
        using var scope = NewDisposeScope();
        var rows = GaussianDenoiser.RowScales(_schedule, t);
        var shape = new long[] { rows.Length, 1, 1, 1 };
        var a = tensor(rows.Select(r => r.Alpha).ToArray(), dtype: ScalarType.Float64).reshape(shape);
        var sigma = tensor(rows.Select(r => r.Sigma).ToArray(), dtype: ScalarType.Float64).reshape(shape);
        var xd = x.to(ScalarType.Float64).cpu();
        var logits = new List<Tensor>();
        var means = new List<Tensor>();
        foreach (var (w, mu, s) in _components)
        {
            var variance = a * a * (s * s) + sigma * sigma;
            var diff = xd - a * mu;
            logits.Add(Math.Log(w) - 0.5 * variance.log() - 0.5 * diff * diff / variance);
            means.Add(mu + a * diff * (s * s) / variance);
        }
        var posterior = stack(logits, 0).softmax(0);             // (K, B, C, H, W)
        var x0 = (posterior * stack(means, 0)).sum(dim: 0);           // (B, C, H, W)
        var eps = (xd - a * x0) / sigma;
        var output = Prediction switch
        {
            Prediction.Epsilon => eps,
            Prediction.V => a * eps - sigma * x0,
            _ => x0,
        };
        return output.to(x.dtype, x.device).MoveToOuterDisposeScope();
    }
}

/// <summary>Class-label conditioner for tests: label <c>classes</c> means "no class".</summary>
public sealed class LabelConditioner : IConditioner
{
    public LabelConditioner(int classes) => Classes = classes;

    public int Classes { get; }

    public Condition Unconditional(int batch, Device device)
        => new() { Labels = full(new long[] { batch }, Classes, dtype: ScalarType.Int64, device: device) };

    public Condition Unconditional(Condition conditional) => conditional.With(Condition.Fields.Labels, full(new long[] { conditional.BatchSize!.Value }, Classes, dtype: ScalarType.Int64, device: conditional.Labels!.device));

    public Condition EncodeBatch(Diffusion.Core.Training.TrainingBatch batch, Device device)
        => throw new NotSupportedException("Not needed by sampler tests.");

    public Condition DropForTraining(Condition condition, double probability, Generator generator)
        => throw new NotSupportedException("Not needed by sampler tests.");
}

/// <summary>Reports progress synchronously (unlike <see cref="Progress{T}"/>, which posts to the thread pool).</summary>
public sealed class ListProgress : IProgress<SamplingProgress>
{
    public List<SamplingProgress> Reports { get; } = new();
    public void Report(SamplingProgress value) => Reports.Add(value);
}
