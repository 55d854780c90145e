using static TorchSharp.torch;

namespace Diffusion.Core;

/// <summary>
/// A network (or an analytic function) that looks at a noisy sample and says what it sees.
/// The sample is in the variance-preserving scaling x_t = alpha_t·x0 + sigma_t·eps with
/// alpha_t² + sigma_t² = 1; <see cref="Prediction"/> says whether the output is eps, v or x0.
/// Samplers never read the raw output: they go through <see cref="DenoiserView"/>, which turns any
/// parameterization into x0 and eps.
/// </summary>
public interface IDenoiser
{
    /// <summary>What <see cref="Predict"/> returns.</summary>
    Prediction Prediction { get; }

    /// <summary>Runs the denoiser.</summary>
    /// <param name="x">The noisy sample, shape (B, C, H, W).</param>
    /// <param name="t">The timestep of each row, float32, shape (B), in [0, T); fractional values are
    /// allowed (continuous-time samplers interpolate between the training timesteps).</param>
    /// <param name="condition">What to condition on; <see cref="Condition.None"/> for unconditional models.</param>
    /// <returns>The prediction, same shape as <paramref name="x"/>.</returns>
    Tensor Predict(Tensor x, Tensor t, Condition condition);
}
