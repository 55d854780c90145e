using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Training;

/// <summary>
/// What a training step minimises, apart from how the step is run (EDM's habit: the loss is a small object separate
/// from the network and the loop). The trainer hands it one micro-batch of clean data and its condition; the objective
/// draws whatever randomness it needs from the trainer's generator and returns a scalar loss to back-propagate.
/// </summary>
public interface ITrainingObjective
{
    /// <summary>The loss of one micro-batch.</summary>
    /// <param name="network">The network being trained (in its compute dtype).</param>
    /// <param name="x0">Clean data (B, C, H, W) on the training device: pixels, or latents when the trainer has an autoencoder.</param>
    /// <param name="condition">The batch's condition, after dropout.</param>
    /// <param name="generator">The trainer's generator (CPU); every random draw comes from it, so runs resume exactly.</param>
    /// <returns>A float scalar, differentiable with respect to the network's trainable parameters.</returns>
    Tensor Loss(nn.Module<Tensor, Tensor, Condition, Tensor> network, Tensor x0, Condition condition, Generator generator);
}

/// <summary>
/// The denoising objective (Ho et al. 2020, Eq. 14, with the eps, v or x0 target and optional min-SNR weighting,
/// Hang et al. 2023): draw t uniformly and eps ~ N(0, I), noise x0 to x_t = alpha_t·x0 + sigma_t·eps, and regress the
/// network's output on the target.
/// </summary>
public sealed class DiffusionObjective : ITrainingObjective
{
    private readonly DiffusionLoss _loss;

    /// <summary>Creates the objective for a network that predicts <paramref name="prediction"/> under <paramref name="scheduler"/>.</summary>
    /// <param name="scheduler">The noise schedule.</param>
    /// <param name="prediction">The network's target.</param>
    /// <param name="minSnrGamma">Min-SNR weighting's gamma, or null for plain MSE.</param>
    public DiffusionObjective(INoiseScheduler scheduler, Prediction prediction, double? minSnrGamma = null)
    {
        Scheduler = scheduler ?? throw new ArgumentNullException(nameof(scheduler));
        _loss = new DiffusionLoss(prediction, minSnrGamma);
    }

    /// <summary>The noise schedule.</summary>
    public INoiseScheduler Scheduler { get; }

    /// <inheritdoc />
    public Tensor Loss(nn.Module<Tensor, Tensor, Condition, Tensor> network, Tensor x0, Condition condition, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(x0);
        var device = x0.device;
        long b = x0.shape[0];
        var t = Scheduler.SampleTimesteps(b, generator, device);
        var eps = randn(x0.shape, generator: generator).to(device);
        var (alpha, sigma) = Scheduler.Scales(t, x0);
        var xt = alpha * x0 + sigma * eps;
        var output = network.forward(xt, t.to(ScalarType.Float32), condition);
        return _loss.Compute(output, x0, eps, alpha, sigma);
    }
}
