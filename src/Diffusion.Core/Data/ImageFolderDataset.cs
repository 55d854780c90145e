using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Data;

/// <summary>
/// Loads a folder of image files (JPEG, PNG, BMP, GIF, WebP, TGA, TIFF) into an in-memory
/// <see cref="ImageDataset"/>, resized and centre-cropped to one square size. Files that cannot be decoded
/// are skipped with a warning naming them.
/// </summary>
public static class ImageFolderDataset
{
    /// <summary>The file extensions read (lower case, with the dot).</summary>
    public static IReadOnlyList<string> Extensions { get; } = new[] { ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tga", ".tif", ".tiff" };

    /// <summary>Loads <paramref name="dir"/> with the given size and channel count (see <see cref="Load(string, ImageFolderOptions, IProgress{string}?, CancellationToken)"/>).</summary>
    /// <exception cref="DiffusionException">See the main overload.</exception>
    public static ImageDataset Load(string dir, int size, int channels = 3, bool classFromSubfolder = true,
        IProgress<string>? warnings = null, CancellationToken cancellationToken = default)
        => Load(dir, new ImageFolderOptions { Size = size, Channels = channels, ClassFromSubfolder = classFromSubfolder }, warnings, cancellationToken);

    /// <summary>Reads every image under <paramref name="dir"/>; decoding runs on all cores.</summary>
    /// <param name="dir">The folder: one sub-folder per class, or a flat folder with <see cref="ImageFolderOptions.ClassFromSubfolder"/> = false.</param>
    /// <param name="options">Size, channels, class layout, per-class limit.</param>
    /// <param name="warnings">Receives one line per skipped file (naming it and why), on the calling thread.</param>
    /// <param name="cancellationToken">Cancels decoding.</param>
    /// <returns>A dataset the caller owns (dispose it); images in sorted path order within each class.</returns>
    /// <exception cref="DiffusionException">The folder does not exist, holds no images (or no class sub-folders), or no image could be decoded.</exception>
    public static ImageDataset Load(string dir, ImageFolderOptions options, IProgress<string>? warnings = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dir);
        ArgumentNullException.ThrowIfNull(options);
        string root = Path.GetFullPath(dir);
        if (!Directory.Exists(root))
            throw new DiffusionException($"Image folder '{root}' does not exist. Pass the folder that holds the images (or one sub-folder per class).");

        var (classes, files) = Scan(root, options);
        if (options.HoldOutEvery is int every)
        {
            int total = files.Count;
            files = files.Where((_, i) => ((i + 1) % every == 0) == options.HeldOut).ToList();
            if (files.Count == 0)
                throw new DiffusionException($"Image folder '{root}' has {total} images, too few for a {(options.HeldOut ? "test" : "train")} split "
                    + $"(one image in every {every} is held out for testing); add images or use train/ and test/ sub-folders.");
        }
        int s = options.Size, c = options.Channels, imageBytes = c * s * s;
        var pixels = new byte[(long)files.Count * imageBytes];
        var errors = new string?[files.Count];
        Parallel.For(0, files.Count, new ParallelOptions { CancellationToken = cancellationToken }, i =>
            errors[i] = Decode(files[i].Path, options, pixels.AsSpan((int)((long)i * imageBytes), imageBytes)));

        var kept = Enumerable.Range(0, files.Count).Where(i => errors[i] is null).ToArray();
        foreach (int i in Enumerable.Range(0, files.Count).Where(i => errors[i] is not null))
            warnings?.Report($"Skipped '{files[i].Path}': {errors[i]}");
        if (kept.Length == 0)
            throw new DiffusionException($"None of the {files.Count} image files in '{root}' could be decoded (first: '{files[0].Path}': {errors[0]}).");

        using var scope = NewDisposeScope();
        var images = empty(new long[] { kept.Length, c, s, s }, dtype: ScalarType.Byte);   // (N, C, S, S)
        var target = images.bytes;
        for (int k = 0; k < kept.Length; k++)
            pixels.AsSpan((int)((long)kept[k] * imageBytes), imageBytes).CopyTo(target.Slice(k * imageBytes, imageBytes));
        var labels = tensor(kept.Select(i => (long)files[i].Label).ToArray(), dtype: ScalarType.Int64);
        return new ImageDataset(images.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope(), classes, Path.GetFileName(root));
    }

    private static (string[] Classes, List<(string Path, int Label)> Files) Scan(string root, ImageFolderOptions options)
    {
        var files = new List<(string, int)>();
        string[] classes;
        if (options.ClassFromSubfolder)
        {
            var subdirs = Directory.GetDirectories(root).OrderBy(d => d, StringComparer.Ordinal)
                .Select(d => (Dir: d, Images: ImagesUnder(d, options.MaxImagesPerClass)))
                .Where(x => x.Images.Count > 0).ToArray();
            if (subdirs.Length == 0)
                throw new DiffusionException(ImagesUnder(root, 1).Count > 0
                    ? $"Image folder '{root}' has images but no class sub-folders with images; load it with classFromSubfolder = false for a single class."
                    : $"Image folder '{root}' holds no images ({string.Join(", ", Extensions)}); check the path.");
            classes = subdirs.Select(x => Path.GetFileName(x.Dir)).ToArray();
            for (int label = 0; label < subdirs.Length; label++)
                files.AddRange(subdirs[label].Images.Select(p => (p, label)));
        }
        else
        {
            var images = ImagesUnder(root, options.MaxImagesPerClass);
            if (images.Count == 0)
                throw new DiffusionException($"Image folder '{root}' holds no images ({string.Join(", ", Extensions)}); check the path.");
            classes = new[] { Path.GetFileName(root) };
            files.AddRange(images.Select(p => (p, 0)));
        }
        return (classes, files);
    }

    private static List<string> ImagesUnder(string dir, int? max)
    {
        var all = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .OrderBy(f => f, StringComparer.Ordinal);
        return (max is int m ? all.Take(m) : all).ToList();
    }

    /// <summary>Decodes, resizes and centre-crops one file into <paramref name="chw"/> (C, S, S); returns null or why it failed.</summary>
    private static string? Decode(string path, ImageFolderOptions options, Span<byte> chw)
    {
        Image<Rgb24> image;
        try { image = Image.Load<Rgb24>(path); }
        catch (Exception e) when (e is ImageFormatException or IOException or NotSupportedException or ArgumentException or InvalidOperationException)
        {
            return $"{e.GetType().Name}: {e.Message}";
        }
        using (image)
        {
            int s = options.Size;
            if (image.Width != s || image.Height != s)
                image.Mutate(op => op.Resize(new ResizeOptions { Size = new SixLabors.ImageSharp.Size(s, s), Mode = ResizeMode.Crop, Sampler = KnownResamplers.Bicubic }));
            int plane = s * s;
            var hw = new Rgb24[plane];                          // (S, S) interleaved
            image.CopyPixelDataTo(hw);
            for (int o = 0; o < plane; o++)
            {
                var p = hw[o];
                if (options.Channels == 3)
                {
                    chw[o] = p.R;
                    chw[plane + o] = p.G;
                    chw[2 * plane + o] = p.B;
                }
                else chw[o] = (byte)Math.Round(0.299 * p.R + 0.587 * p.G + 0.114 * p.B);
            }
        }
        return null;
    }
}
