using static TorchSharp.torch;

namespace Diffusion.Core.Training;

/// <summary>
/// Runs another denoiser's forward pass under <see cref="Autocast"/>, and nothing else: the sampler's arithmetic, the
/// guidance combination and any small linear solves of multistep samplers stay in float32. The prediction is returned
/// in float32.
/// </summary>
public sealed class AutocastDenoiser : IDenoiser
{
    private readonly Device _device;

    /// <summary>Wraps <paramref name="inner"/>, whose work runs on <paramref name="device"/>.</summary>
    /// <exception cref="DiffusionException">libtorch's autocast entry points are not available (<see cref="Autocast.IsAvailable"/>).</exception>
    public AutocastDenoiser(IDenoiser inner, Device device)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(device);
        Autocast.EnsureAvailable();
        Inner = inner;
        _device = device;
    }

    /// <summary>The wrapped denoiser.</summary>
    public IDenoiser Inner { get; }

    /// <inheritdoc />
    public Prediction Prediction => Inner.Prediction;

    /// <inheritdoc />
    public Tensor Predict(Tensor x, Tensor t, Condition condition)
    {
        Tensor y;
        using (Autocast.Enter(_device)) y = Inner.Predict(x, t, condition);
        return y.dtype == ScalarType.Float32 ? y : y.to(ScalarType.Float32);
    }
}
