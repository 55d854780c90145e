using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core;

/// <summary>
/// What samplers see of a denoiser: given x_t at a (possibly fractional) timestep, the predicted x0 and
/// eps, whatever the network's parameterization. Also offers the variance-exploding view
/// D(x; sigma) of Karras et al. 2022 (Eq. 7 with c_in = 1/sqrt(1 + sigma²)), on which the
/// continuous-time solvers (Euler, Heun, DPM-Solver++, UniPC) are written.
/// </summary>
public sealed class DenoiserView
{
    /// <summary>Wraps <paramref name="denoiser"/> under <paramref name="scheduler"/>.</summary>
    /// <param name="denoiser">The model.</param>
    /// <param name="scheduler">The schedule it was trained with.</param>
    /// <param name="clipSample">When set, every x0 prediction is clamped to [−clipSample, clipSample] and eps is
    /// recomputed from the clamped x0 (diffusers' <c>clip_sample</c>; Ho et al. 2020 clip x0 to the data range when
    /// sampling). Keeps an imperfect eps-prediction model from blowing up at high noise, where x0 = (x_t − sigma·eps)/alpha
    /// multiplies eps errors by sigma/alpha (≈ 150 at the end of the linear schedule). Null (default) disables it.</param>
    public DenoiserView(IDenoiser denoiser, INoiseScheduler scheduler, double? clipSample = null)
    {
        Denoiser = denoiser ?? throw new ArgumentNullException(nameof(denoiser));
        Scheduler = scheduler ?? throw new ArgumentNullException(nameof(scheduler));
        if (clipSample is <= 0) throw new DiffusionException($"clipSample must be positive, got {clipSample}.");
        ClipSample = clipSample;
    }

    /// <summary>The bound x0 predictions are clamped to, or null.</summary>
    public double? ClipSample { get; }

    /// <summary>The wrapped denoiser.</summary>
    public IDenoiser Denoiser { get; }

    /// <summary>The schedule the denoiser was trained with.</summary>
    public INoiseScheduler Scheduler { get; }

    /// <summary>Predicted (x0, eps) for x_t at integer timestep <paramref name="t"/> (same t for the whole batch).</summary>
    public (Tensor X0, Tensor Eps) AtTimestep(Tensor xt, int t, Condition condition)
        => Evaluate(xt, t, Scheduler.Alpha(t), Scheduler.SigmaVp(t), condition);

    /// <summary>
    /// The Karras denoiser D(x; sigma): <paramref name="x"/> = x0 + sigma·eps (VE scaling); returns the predicted x0.
    /// The model is queried at the continuous timestep whose sigma matches.
    /// </summary>
    public Tensor Denoise(Tensor x, double sigma, Condition condition)
    {
        using var scope = NewDisposeScope();
        double alpha = 1 / Math.Sqrt(1 + sigma * sigma);
        double t = Scheduler.TimestepFromSigma(sigma);
        var (x0, _) = Evaluate(x * alpha, t, alpha, sigma * alpha, condition);
        return x0.MoveToOuterDisposeScope();
    }

    private (Tensor X0, Tensor Eps) Evaluate(Tensor xt, double t, double alpha, double sigma, Condition condition)
    {
        using var scope = NewDisposeScope();
        var tt = full(new[] { xt.shape[0] }, t, dtype: ScalarType.Float32, device: xt.device);
        var output = Denoiser.Predict(xt, tt, condition);
        var a = tensor(alpha, dtype: output.dtype, device: xt.device);
        var s = tensor(sigma, dtype: output.dtype, device: xt.device);
        var x0 = Parameterization.ToSample(Denoiser.Prediction, output, xt, a, s);
        Tensor eps;
        if (ClipSample is double c)
        {
            x0 = x0.clamp(-c, c);
            eps = sigma > 0 ? (xt - a * x0) / s : Parameterization.ToEpsilon(Denoiser.Prediction, output, xt, a, s);
        }
        else eps = Parameterization.ToEpsilon(Denoiser.Prediction, output, xt, a, s);
        return (x0.MoveToOuterDisposeScope(), eps.MoveToOuterDisposeScope());
    }
}
