using Diffusion.Core;
using Diffusion.Samplers;
using static TorchSharp.torch;

namespace Diffusion.Benchmarks.Quality;

/// <summary>Counts <see cref="IDenoiser.Predict"/> calls: network evaluations (NFE). Wrapped around a guided
/// denoiser, one batched cond + uncond call counts once.</summary>
internal sealed class CountingDenoiser(IDenoiser inner) : IDenoiser
{
    /// <summary>Calls so far.</summary>
    public int Calls { get; private set; }

    public Prediction Prediction => inner.Prediction;

    public Tensor Predict(Tensor x, Tensor t, Condition condition)
    {
        Calls++;
        return inner.Predict(x, t, condition);
    }
}

/// <summary>
/// Maps a budget of network evaluations to a sampler's step count by measuring, not by a table: the sampler runs
/// on a one-pixel stand-in denoiser and its calls are counted (Heun: 2·steps − 1, its last step being Euler; the
/// multistep solvers, DDIM, DDPM and Euler: one per step). A sampler added later needs no entry here.
/// </summary>
internal static class EvaluationBudget
{
    /// <summary>The most steps whose evaluations fit in <paramref name="nfe"/>, and those evaluations; null when even one step
    /// costs more.</summary>
    public static (int Steps, int Evaluations)? StepsFor(string sampler, INoiseScheduler schedule, int nfe)
    {
        // Evaluations never fall as steps grow, and every step costs at least one: search steps in [1, nfe].
        int atMost = Evaluations(sampler, schedule, nfe);
        if (atMost <= nfe) return (nfe, atMost);                 // one evaluation a step
        int lo = 1, hi = nfe - 1;
        if (Evaluations(sampler, schedule, lo) > nfe) return null;
        while (lo < hi)
        {
            int mid = lo + (hi - lo + 1) / 2;
            if (Evaluations(sampler, schedule, mid) <= nfe) lo = mid;
            else hi = mid - 1;
        }
        return (lo, Evaluations(sampler, schedule, lo));
    }

    /// <summary>Network evaluations of one run of <paramref name="steps"/> steps; int.MaxValue when the sampler refuses
    /// that many (the discrete samplers stop at the schedule's T).</summary>
    public static int Evaluations(string sampler, INoiseScheduler schedule, int steps)
    {
        var counter = new CountingDenoiser(new ZeroDenoiser());
        using var scope = NewDisposeScope();
        try
        {
            SamplerRegistry.Create(sampler).Sample(new DenoiserView(counter, schedule),
                new SamplingRequest { Shape = [1, 1, 1, 1], Steps = steps, Generator = Devices.Generator(0) });
        }
        catch (DiffusionException)
        {
            return int.MaxValue;
        }
        return counter.Calls;
    }

    // Predicts eps = 0: cheap, and all a call count needs.
    private sealed class ZeroDenoiser : IDenoiser
    {
        public Prediction Prediction => Prediction.Epsilon;

        public Tensor Predict(Tensor x, Tensor t, Condition condition) => zeros_like(x);
    }
}
