using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Samplers;

/// <summary>A closed range of training timesteps [<paramref name="Low"/>, <paramref name="High"/>].</summary>
/// <param name="Low">First timestep of the range, ≥ 0.</param>
/// <param name="High">Last timestep of the range, ≥ <paramref name="Low"/>.</param>
public readonly record struct TimestepInterval(double Low, double High)
{
    /// <summary>The timesteps of <paramref name="schedule"/> whose noise level σ = √((1 − ᾱ)/ᾱ) lies between
    /// <paramref name="sigmaLow"/> and <paramref name="sigmaHigh"/> (continuous timesteps, as samplers pass them).</summary>
    public static TimestepInterval FromSigma(INoiseScheduler schedule, double sigmaLow, double sigmaHigh)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        return new TimestepInterval(schedule.TimestepFromSigma(sigmaLow), schedule.TimestepFromSigma(sigmaHigh));
    }
}

/// <summary>Options of <see cref="ClassifierFreeGuidance"/>.</summary>
public sealed record GuidanceOptions
{
    /// <summary>Apply guidance only at timesteps inside this range and use the conditional prediction
    /// elsewhere (Kynkäänniemi et al. 2024: guidance helps most at middle noise levels). Null (default)
    /// guides at every timestep.</summary>
    /// <exception cref="DiffusionException">Set to a range with Low &lt; 0 or High &lt; Low.</exception>
    public TimestepInterval? Interval
    {
        get;
        init => field = value is not { } v || (v.Low >= 0 && v.High >= v.Low)
            ? value
            : throw new DiffusionException($"The guidance interval must satisfy 0 ≤ Low ≤ High, got [{v.Low}, {v.High}].");
    }

    /// <summary>phi in [0, 1]: rescale the guided prediction so its per-sample standard deviation matches the
    /// conditional prediction's, and mix phi of the rescaled with 1 − phi of the plain guided prediction
    /// (Lin et al. 2023, Sec. 3.4, Eqs. 15–16; they suggest 0.7). Default 0 (off).</summary>
    /// <exception cref="DiffusionException">Set outside [0, 1].</exception>
    public double Rescale
    {
        get;
        init => field = value is >= 0 and <= 1 ? value : throw new DiffusionException($"Guidance rescale must be in [0, 1], got {value}.");
    }
}

/// <summary>
/// Classifier-free guidance (Ho &amp; Salimans 2022, Eq. 6) as a denoiser: runs the conditional and the
/// unconditional prediction in one batched call of the inner denoiser and returns
/// uncond + w·(cond − uncond) in the inner denoiser's own parameterization (eps, v or x0 combine alike,
/// since each is affine in the others at a fixed x_t). w = 1 is the conditional model (computed without the
/// unconditional pass), w = 0 the unconditional one, w &gt; 1 strengthens the condition.
/// </summary>
public sealed class ClassifierFreeGuidance : IDenoiser
{
    /// <summary>Wraps <paramref name="inner"/> with guidance.</summary>
    /// <param name="inner">A denoiser trained with condition dropout, so it knows the unconditional model.</param>
    /// <param name="scale">Guidance scale w ≥ 0.</param>
    /// <param name="unconditional">Supplies the "no condition" rows (<see cref="IConditioner.Unconditional(Condition)"/>).</param>
    /// <param name="options">Interval and rescale; defaults (off) when null.</param>
    /// <exception cref="DiffusionException"><paramref name="scale"/> is negative or not finite.</exception>
    public ClassifierFreeGuidance(IDenoiser inner, double scale, IConditioner unconditional, GuidanceOptions? options = null)
    {
        Inner = inner ?? throw new ArgumentNullException(nameof(inner));
        Conditioner = unconditional ?? throw new ArgumentNullException(nameof(unconditional));
        if (!(scale >= 0 && double.IsFinite(scale)))
            throw new DiffusionException($"The guidance scale must be a finite value ≥ 0 (1 = no guidance), got {scale}.");
        Scale = scale;
        Options = options ?? new GuidanceOptions();
    }

    /// <summary>The guided denoiser.</summary>
    public IDenoiser Inner { get; }

    /// <summary>Where the unconditional rows come from.</summary>
    public IConditioner Conditioner { get; }

    /// <summary>The guidance scale w.</summary>
    public double Scale { get; }

    /// <summary>Interval and rescale options.</summary>
    public GuidanceOptions Options { get; }

    /// <summary>The inner denoiser's parameterization; guidance keeps it.</summary>
    public Prediction Prediction => Inner.Prediction;

    /// <summary>The guided prediction for <paramref name="x"/> (B, C, H, W) at timesteps <paramref name="t"/> (B).</summary>
    /// <param name="x">The noisy sample.</param>
    /// <param name="t">The timestep of each row.</param>
    /// <param name="condition">The conditional rows (B of them).</param>
    /// <exception cref="DiffusionException">The condition and the unconditional one set different fields.</exception>
    public Tensor Predict(Tensor x, Tensor t, Condition condition)
    {
        bool rescale = Options.Rescale > 0;
        if (Scale == 1 && !rescale) return Inner.Predict(x, t, condition);
        using var scope = NewDisposeScope();
        long batch = x.shape[0];
        // Derived from the conditional rows, so fields guidance keeps (a hint, a mask) stay in the unconditional half.
        var uncondition = condition.IsEmpty ? Conditioner.Unconditional((int)batch, x.device) : Conditioner.Unconditional(condition);
        if (Scale == 0 && !rescale && Options.Interval is null)
            return Inner.Predict(x, t, uncondition).MoveToOuterDisposeScope();

        var both = Inner.Predict(cat(new[] { x, x }, 0), cat(new[] { t, t }, 0), Condition.Concat(condition, uncondition)); // (2B, C, H, W)
        var cond = both.narrow(0, 0, batch);
        var uncond = both.narrow(0, batch, batch);
        var guided = uncond + (cond - uncond) * Scale;
        if (rescale)
        {
            var dims = Enumerable.Range(1, (int)x.dim() - 1).Select(d => (long)d).ToArray();
            var ratio = cond.std(dims, keepdim: true) / guided.std(dims, keepdim: true).clamp_min(1e-12); // (B, 1, 1, 1)
            guided = guided * (ratio * Options.Rescale + (1 - Options.Rescale));
        }
        if (Options.Interval is { } interval)
        {
            var shape = new long[x.dim()];
            Array.Fill(shape, 1L);
            shape[0] = batch;
            var inside = t.ge(interval.Low).logical_and(t.le(interval.High)).reshape(shape); // (B, 1, 1, 1)
            guided = where(inside, guided, cond);
        }
        return guided.MoveToOuterDisposeScope();
    }
}
