using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Imaging;

/// <summary>
/// Keeps every k-th intermediate state of a sampling run as 8-bit frames, for an animated GIF of the
/// trajectory. Pass <see cref="Record"/> as <see cref="SamplingRequest.OnStep"/>.
/// </summary>
public sealed class TrajectoryRecorder : IDisposable
{
    private readonly List<Tensor> _frames = new();
    private readonly int _every;
    private readonly bool _denoised;

    /// <summary>Creates a recorder.</summary>
    /// <param name="every">Keep one step in <paramref name="every"/> (the last step is always kept), ≥ 1.</param>
    /// <param name="denoised">Record the predicted x0 instead of the noisy sample x_t.</param>
    /// <param name="maxImages">Record only the first this many images of the batch, ≥ 1.</param>
    /// <exception cref="DiffusionException">An argument is out of range.</exception>
    public TrajectoryRecorder(int every = 1, bool denoised = false, int maxImages = int.MaxValue)
    {
        if (every < 1) throw new DiffusionException($"Record every k-th step needs k ≥ 1, got {every}.");
        if (maxImages < 1) throw new DiffusionException($"A trajectory needs at least one image, got maxImages = {maxImages}.");
        _every = every;
        _denoised = denoised;
        MaxImages = maxImages;
    }

    /// <summary>How many images of each batch are recorded.</summary>
    public int MaxImages { get; }

    /// <summary>The frames recorded so far, uint8 (B, C, H, W) on the CPU, owned by the recorder.</summary>
    public IReadOnlyList<Tensor> Frames => _frames;

    /// <summary>Records <paramref name="step"/> when it is due; call it synchronously from the sampler.</summary>
    public void Record(SamplingStep step)
    {
        ArgumentNullException.ThrowIfNull(step);
        if (step.Step % _every != 0 && step.Step != step.Total) return;
        using var scope = NewDisposeScope();
        var x = (_denoised ? step.Denoised : step.Sample).detach();
        if (x.shape[0] > MaxImages) x = x.narrow(0, 0, MaxImages);
        var u8 = x.to(ScalarType.Float32, CPU).nan_to_num(0.0).clamp(-1.0, 1.0).add(1.0).mul(127.5).round().to(ScalarType.Byte);
        _frames.Add(u8.DetachFromDisposeScope());
    }

    /// <summary>Saves the recorded frames as a looping GIF (see <see cref="TrajectoryGif.Save"/>).</summary>
    /// <exception cref="DiffusionException">Nothing was recorded, or an argument is out of range.</exception>
    public void SaveGif(string path, int columns = 0, int frameDelayMs = 100, int lastFrameHoldMs = 1000, int padding = 2, int scale = 1)
        => TrajectoryGif.Save(_frames, path, columns, frameDelayMs, lastFrameHoldMs, padding, scale);

    /// <summary>Frees the recorded frames.</summary>
    public void Dispose()
    {
        foreach (var f in _frames) f.Dispose();
        _frames.Clear();
    }
}
