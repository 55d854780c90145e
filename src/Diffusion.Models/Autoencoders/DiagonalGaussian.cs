using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// The VAE's posterior q(z | x) = N(mean, diag(exp(logVar))) (Kingma &amp; Welling 2014), as diffusers'
/// <c>DiagonalGaussianDistribution</c>: the log-variance is clamped to [−30, 20]. The tensors belong to the dispose
/// scope that created them.
/// </summary>
/// <param name="Mean">(B, latent, h, w), unscaled.</param>
/// <param name="LogVar">(B, latent, h, w), clamped.</param>
public sealed record DiagonalGaussian(Tensor Mean, Tensor LogVar)
{
    /// <summary>z = mean + exp(logVar / 2)·ε with ε ~ N(0, I) drawn from <paramref name="generator"/> (the reparameterisation trick,
    /// differentiable with respect to mean and log-variance).</summary>
    public Tensor Sample(Generator generator)
    {
        ArgumentNullException.ThrowIfNull(generator);
        var eps = randn(Mean.shape, generator: generator).to(Mean.dtype).to(Mean.device);
        return Mean + (0.5 * LogVar).exp() * eps;
    }

    /// <summary>KL(q ‖ N(0, I)) per element, ½(mean² + exp(logVar) − 1 − logVar), shape (B, latent, h, w). diffusers' <c>kl()</c>
    /// is its sum over (latent, h, w).</summary>
    public Tensor KlPerElement() => 0.5 * (Mean.square() + LogVar.exp() - 1 - LogVar);
}
