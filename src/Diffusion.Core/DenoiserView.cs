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
    public DenoiserView(IDenoiser denoiser, INoiseScheduler scheduler)
    {
        Denoiser = denoiser ?? throw new ArgumentNullException(nameof(denoiser));
        Scheduler = scheduler ?? throw new ArgumentNullException(nameof(scheduler));
    }

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
        var eps = Parameterization.ToEpsilon(Denoiser.Prediction, output, xt, a, s);
        return (x0.MoveToOuterDisposeScope(), eps.MoveToOuterDisposeScope());
    }
}
