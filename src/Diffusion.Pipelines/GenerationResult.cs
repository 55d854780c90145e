using Diffusion.Core.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Pipelines;

/// <summary>
/// Generated images: a float32 CPU tensor (B, C, H, W) in [−1, 1] owned by this result (detached from every dispose
/// scope; dispose the result to free it), the same images as ImageSharp images or PNG bytes, the parameters used, and
/// the denoising trajectory when one was asked for.
/// </summary>
public sealed class GenerationResult : IDisposable
{
    private readonly TrajectoryRecorder? _trajectory;

    internal GenerationResult(Tensor images, ResolvedGeneration parameters, TrajectoryRecorder? trajectory)
    {
        Images = images;
        Parameters = parameters;
        _trajectory = trajectory;
    }

    /// <summary>The images, float32 (B, C, H, W) in [−1, 1], on the CPU.</summary>
    public Tensor Images { get; }

    /// <summary>What the generation used.</summary>
    public ResolvedGeneration Parameters { get; }

    /// <summary>Number of images.</summary>
    public int Count => (int)Images.shape[0];

    /// <summary>True when a trajectory was recorded (<see cref="GenerationRequest.TrajectoryEvery"/>).</summary>
    public bool HasTrajectory => _trajectory is { Frames.Count: > 0 };

    /// <summary>Image <paramref name="index"/> as an RGB picture (grayscale models give grey RGB pixels).</summary>
    public Image<Rgb24> ToImage(int index)
    {
        CheckIndex(index);
        using var scope = NewDisposeScope();
        return ImageGrid.ToImage(Images[index], columns: 1, padding: 0);
    }

    /// <summary>Image <paramref name="index"/> encoded as PNG.</summary>
    public byte[] ToPng(int index)
    {
        using var image = ToImage(index);
        using var stream = new MemoryStream();
        image.SaveAsPng(stream);
        return stream.ToArray();
    }

    /// <summary>All images in one grid (<paramref name="columns"/> per row, 0 = square), encoded as PNG.</summary>
    public byte[] GridPng(int columns = 0, int scale = 1)
    {
        using var image = ImageGrid.ToImage(Images, columns, scale: scale);
        using var stream = new MemoryStream();
        image.SaveAsPng(stream);
        return stream.ToArray();
    }

    /// <summary>Writes all images as one grid PNG.</summary>
    public void SaveGrid(string path, int columns = 0, int scale = 1) => ImageGrid.SavePng(Images, path, columns, scale: scale);

    /// <summary>Writes one PNG per image (and labels.csv when the images have classes) into <paramref name="folder"/>.</summary>
    public IReadOnlyList<string> SavePngs(string folder) => ImageFiles.SavePngs(Images, folder, Parameters.Classes);

    /// <summary>Writes the recorded denoising trajectory as a looping GIF.</summary>
    /// <exception cref="Core.DiffusionException">No trajectory was recorded.</exception>
    public void SaveGif(string path, int columns = 0, int scale = 1)
    {
        if (_trajectory is null) throw new Core.DiffusionException("No trajectory was recorded: set GenerationRequest.TrajectoryEvery.");
        _trajectory.SaveGif(path, columns, scale: scale);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Images.Dispose();
        _trajectory?.Dispose();
    }

    private void CheckIndex(int index)
    {
        if (index < 0 || index >= Count) throw new ArgumentOutOfRangeException(nameof(index), $"Image {index} does not exist; the result has {Count}.");
    }
}
