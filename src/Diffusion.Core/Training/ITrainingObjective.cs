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

    /// <summary>The loss of one process's shard of a micro-batch in data-parallel training (<see cref="IProcessGroup"/>).
    /// To make P processes train exactly like one, an implementation draws its randomness for the whole micro-batch of
    /// <see cref="BatchShard.BatchSize"/> rows, as <see cref="Loss(nn.Module{Tensor, Tensor, Condition, Tensor}, Tensor, Condition, Generator)"/>
    /// would, and keeps the shard's rows: every process then consumes the generator alike and each example gets the noise
    /// it gets in a one-process run. The default handles the whole batch only.</summary>
    /// <param name="network">The network being trained (in its compute dtype).</param>
    /// <param name="x0">The shard's clean data (<see cref="BatchShard.Count"/>, C, H, W) on the training device.</param>
    /// <param name="condition">The shard's condition, after dropout.</param>
    /// <param name="generator">The trainer's generator (CPU), in the same state on every process.</param>
    /// <param name="shard">Which rows of the micro-batch <paramref name="x0"/> holds.</param>
    /// <returns>The mean loss over the shard's rows (so the mean over processes is the micro-batch's loss).</returns>
    /// <exception cref="DiffusionException">The objective does not implement sharding and the shard is not the whole batch.</exception>
    Tensor Loss(nn.Module<Tensor, Tensor, Condition, Tensor> network, Tensor x0, Condition condition, Generator generator, BatchShard shard)
        => shard.IsWhole ? Loss(network, x0, condition, generator)
        : throw new DiffusionException($"{GetType().Name} does not support data-parallel training: it must implement ITrainingObjective.Loss with a BatchShard.");
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
        ArgumentNullException.ThrowIfNull(x0);
        return Loss(network, x0, condition, generator, BatchShard.Whole((int)x0.shape[0]));
    }

    /// <inheritdoc />
    public Tensor Loss(nn.Module<Tensor, Tensor, Condition, Tensor> network, Tensor x0, Condition condition, Generator generator, BatchShard shard)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(x0);
        if (x0.shape[0] != shard.Count) throw new ArgumentException($"x0 has {x0.shape[0]} rows, the shard {shard.Count}.", nameof(x0));
        var device = x0.device;
        var shape = x0.shape.ToArray();
        shape[0] = shard.BatchSize;
        // Drawn for the whole micro-batch, then sliced: each example's t and eps do not depend on how the batch is split.
        var t = shard.Of(Scheduler.SampleTimesteps(shard.BatchSize, generator, device));
        var eps = shard.Of(randn(shape, generator: generator)).to(device);
        var (alpha, sigma) = Scheduler.Scales(t, x0);
        var xt = alpha * x0 + sigma * eps;
        var output = network.forward(xt, t.to(ScalarType.Float32), condition);
        return _loss.Compute(output, x0, eps, alpha, sigma);
    }
}
