using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Training;

/// <summary>
/// The denoising loss: mean squared error between the network output and the target of its
/// parameterization (Ho et al. 2020, Eq. 14 for eps), optionally weighted per sample by
/// min-SNR-γ (Hang et al. 2023, Eq. 7 and its eps / v forms).
/// </summary>
public sealed class DiffusionLoss
{
    /// <summary>Creates the loss for a network predicting <paramref name="prediction"/>.</summary>
    /// <param name="prediction">What the network outputs.</param>
    /// <param name="minSnrGamma">γ of min-SNR weighting, or null for the plain loss.</param>
    public DiffusionLoss(Prediction prediction, double? minSnrGamma = null)
    {
        Prediction = prediction;
        MinSnrGamma = minSnrGamma;
    }

    /// <summary>The network's parameterization.</summary>
    public Prediction Prediction { get; }

    /// <summary>γ of min-SNR weighting, or null.</summary>
    public double? MinSnrGamma { get; }

    /// <summary>The scalar loss for one batch.</summary>
    /// <param name="output">Network output (B, …), any float dtype.</param>
    /// <param name="x0">Clean samples.</param>
    /// <param name="eps">The noise that was added.</param>
    /// <param name="alpha">sqrt(alphaBar_t), broadcastable (B, 1, …).</param>
    /// <param name="sigma">sqrt(1 − alphaBar_t), broadcastable.</param>
    public Tensor Compute(Tensor output, Tensor x0, Tensor eps, Tensor alpha, Tensor sigma)
    {
        using var scope = NewDisposeScope();
        var target = Parameterization.Target(Prediction, x0, eps, alpha, sigma);
        var perSample = (output.to(ScalarType.Float32) - target).square().flatten(1).mean(new long[] { 1 }); // (B)
        if (MinSnrGamma is double gamma)
        {
            var snr = (alpha.square() / sigma.square().clamp_min(1e-12)).flatten(); // (B)
            var clipped = snr.clamp_max(gamma);
            var weight = Prediction switch
            {
                Prediction.Epsilon => clipped / snr,
                Prediction.V => clipped / (snr + 1),
                _ => clipped,
            };
            perSample = perSample * weight;
        }
        return perSample.mean().MoveToOuterDisposeScope();
    }
}
