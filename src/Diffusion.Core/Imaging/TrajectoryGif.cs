using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.PixelFormats;
using static TorchSharp.torch;

namespace Diffusion.Core.Imaging;

/// <summary>
/// Writes an animated, looping GIF whose frames are image grids, e.g. the states of a sampling
/// trajectory from noise to image (see <see cref="TrajectoryRecorder"/>).
/// </summary>
public static class TrajectoryGif
{
    /// <summary>Renders each frame as a grid (<see cref="ImageGrid.ToImage"/>) and saves the animation, replacing <paramref name="path"/> atomically.</summary>
    /// <param name="frames">At least one frame, each (B, C, H, W) of the same shape; float values in [−1, 1] (clamped) or uint8 pixels.</param>
    /// <param name="path">The GIF file; its directory is created if needed.</param>
    /// <param name="columns">Tiles per row; 0 picks ceil(√B).</param>
    /// <param name="frameDelayMs">Time each frame is shown, in milliseconds (GIF stores hundredths of a second; ≥ 10).</param>
    /// <param name="lastFrameHoldMs">Time the last frame is shown before the animation loops, in milliseconds (≥ 10).</param>
    /// <param name="padding">Black pixels between tiles, ≥ 0.</param>
    /// <param name="scale">Integer nearest-neighbour upscaling, ≥ 1.</param>
    /// <exception cref="DiffusionException">There are no frames, the frames differ in shape, or an argument is out of range.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static void Save(IReadOnlyList<Tensor> frames, string path, int columns = 0, int frameDelayMs = 100,
        int lastFrameHoldMs = 1000, int padding = 2, int scale = 1)
    {
        ArgumentNullException.ThrowIfNull(frames);
        if (frames.Count == 0) throw new DiffusionException("An animated GIF needs at least one frame.");
        if (frameDelayMs < 10) throw new DiffusionException($"The GIF frame delay must be at least 10 ms, got {frameDelayMs}.");
        if (lastFrameHoldMs < 10) throw new DiffusionException($"The GIF last-frame hold must be at least 10 ms, got {lastFrameHoldMs}.");

        Image<Rgb24>? gif = null;
        try
        {
            for (int i = 0; i < frames.Count; i++)
            {
                if (!frames[i].shape.SequenceEqual(frames[0].shape))
                    throw new DiffusionException($"GIF frame {i} has shape ({string.Join(", ", frames[i].shape)}), frame 0 has ({string.Join(", ", frames[0].shape)}); all frames must match.");
                using var grid = ImageGrid.Render(ImagePixels.From(frames[i], $"GIF frame {i}"), columns, padding, scale);
                if (gif is null) gif = grid.Clone();
                else gif.Frames.AddFrame(grid.Frames.RootFrame);
                var meta = gif.Frames[i].Metadata.GetGifMetadata();
                meta.FrameDelay = (int)Math.Round((i == frames.Count - 1 ? lastFrameHoldMs : frameDelayMs) / 10.0);
            }
            gif!.Metadata.GetGifMetadata().RepeatCount = 0; // 0 = loop forever
            var encoder = new GifEncoder { ColorTableMode = GifColorTableMode.Local };
            AtomicFile.Write(path, tmp => gif.Save(tmp, encoder));
        }
        finally
        {
            gif?.Dispose();
        }
    }
}
