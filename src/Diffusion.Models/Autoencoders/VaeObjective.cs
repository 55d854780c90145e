using System.Text.Json.Serialization;
using Diffusion.Core;
using Diffusion.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>The pixel distance a VAE's reconstruction loss uses.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ReconstructionLoss>))]
public enum ReconstructionLoss
{
    /// <summary>Mean absolute error (Rombach et al. 2022's autoencoders: sharper than L2).</summary>
    L1,
    /// <summary>Mean squared error (the Gaussian likelihood of Kingma &amp; Welling 2014).</summary>
    L2,
}

/// <summary>What a VAE minimises; saved with the VAE run.</summary>
public sealed record VaeObjectiveOptions
{
    /// <summary>The reconstruction distance. Default <see cref="ReconstructionLoss.L1"/>.</summary>
    public ReconstructionLoss Reconstruction { get; init; } = ReconstructionLoss.L1;

    /// <summary>Weight of the KL term. As in Rombach et al. 2022 (and their <c>kl_weight</c> of 1e-6) the KL is summed over an
    /// image's latent elements and the reconstruction error over its pixels; both are divided here by the pixel count, so
    /// the loss reads as a per-pixel error. Small: the KL only keeps the latent space tame. ≥ 0. Default 1e-6.</summary>
    public double KlWeight { get; init; } = 1e-6;

    /// <summary>Throws <see cref="DiffusionException"/> when a value is out of range.</summary>
    public void Validate()
    {
        if (!(KlWeight >= 0) || double.IsInfinity(KlWeight)) throw new DiffusionException($"KlWeight must be a finite number ≥ 0, got {KlWeight}.");
    }
}

/// <summary>
/// The VAE objective (Kingma &amp; Welling 2014, Eq. 10, with the weighting of Rombach et al. 2022): encode x to q(z | x),
/// draw z with the reparameterisation trick from the trainer's generator, decode, and minimise
/// rec(x, x̂) + w·KL(q(z | x) ‖ N(0, I)) / (C·H·W), where rec is the mean L1 or L2 pixel error and the KL is summed over
/// the latent elements (mean over the batch). The network is <see cref="AutoencoderKL.ForTraining"/>'s view.
/// </summary>
public sealed class VaeObjective : ITrainingObjective
{
    /// <summary>Creates the objective.</summary>
    /// <exception cref="DiffusionException">The options are invalid.</exception>
    public VaeObjective(VaeObjectiveOptions? options = null)
    {
        Options = options ?? new VaeObjectiveOptions();
        Options.Validate();
    }

    /// <summary>The loss's options.</summary>
    public VaeObjectiveOptions Options { get; }

    /// <inheritdoc />
    /// <exception cref="DiffusionException"><paramref name="network"/> is not an <see cref="AutoencoderKL"/>'s training view.</exception>
    public Tensor Loss(nn.Module<Tensor, Tensor, Condition, Tensor> network, Tensor x0, Condition condition, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(x0);
        var (loss, _, _) = Terms(network, x0, generator);
        return loss;
    }

    /// <summary>The loss and its two terms (reconstruction error, KL summed per image and divided by the pixel count).</summary>
    /// <exception cref="DiffusionException"><paramref name="network"/> is not an <see cref="AutoencoderKL"/>'s training view.</exception>
    public (Tensor Loss, Tensor Reconstruction, Tensor Kl) Terms(nn.Module<Tensor, Tensor, Condition, Tensor> network, Tensor x0, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(x0);
        ArgumentNullException.ThrowIfNull(generator);
        var vae = (network as AutoencoderKLTrainingView)?.Autoencoder
            ?? throw new DiffusionException($"The VAE objective trains an AutoencoderKL (its ForTraining() view), got {network.GetType().Name}.");
        var x = x0.to(ScalarType.Float32);
        var posterior = vae.EncodeDistribution(x);
        var reconstruction = vae.DecodeRaw(posterior.Sample(generator)); // (B, C, H, W), float32
        var error = reconstruction - x;
        var rec = Options.Reconstruction == ReconstructionLoss.L1 ? error.abs().mean() : error.square().mean();
        double pixels = x.shape[1] * x.shape[2] * x.shape[3];
        var kl = posterior.KlPerElement().sum([1, 2, 3]).mean() / pixels;
        var loss = Options.KlWeight == 0 ? rec : rec + Options.KlWeight * kl;
        return (loss, rec, kl);
    }
}
