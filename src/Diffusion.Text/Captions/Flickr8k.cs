using System.Text;
using Diffusion.Core;
using Diffusion.Core.Data;

namespace Diffusion.Text.Captions;

/// <summary>
/// Flickr8k (or a subset of it, such as the 1,000-image <c>flickr8k-1k</c>) as a captioned image dataset: photos in
/// <c>images/&lt;id&gt;.jpg</c> and their captions (five per photo) in <c>captions.txt</c>, a CSV with the header
/// <c>image,caption</c>. Photos are scaled and centre-cropped to squares.
/// </summary>
public static class Flickr8k
{
    /// <summary>The folders looked for in the data directory, in this order.</summary>
    public static IReadOnlyList<string> Folders { get; } = ["flickr8k-1k", "flickr8k"];

    /// <summary>The captions file inside the dataset folder.</summary>
    public const string CaptionsFile = "captions.txt";

    /// <summary>The images folder inside the dataset folder.</summary>
    public const string ImagesFolder = "images";

    /// <summary>Loads the photos and their captions.</summary>
    /// <param name="dataDir">The data directory holding <c>flickr8k-1k/</c> (null: DIFFUSION_DATA, then ./data), or the dataset folder itself.</param>
    /// <param name="split">Train: all but every <see cref="Datasets.HeldOutEvery"/>-th photo (sorted by file name); test: those.</param>
    /// <param name="size">Side length of the square images, pixels.</param>
    /// <param name="maxImages">Keep at most this many photos (the first by file name, before the split); null keeps all.</param>
    /// <param name="seed">Seeds which caption each photo gets in each epoch.</param>
    /// <param name="progress">Receives progress lines and a warning per undecodable file.</param>
    /// <param name="cancellationToken">Cancels reading.</param>
    /// <exception cref="DiffusionException">The folder, the captions file or the images are missing (the message names
    /// the path), the CSV is malformed, or a photo has no caption.</exception>
    public static CaptionedImageDataset Load(string? dataDir, DatasetSplit split = DatasetSplit.Train, int size = 64, int? maxImages = null,
        long seed = 0, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        string root = DataDirectory.Resolve(dataDir);
        string? folder = File.Exists(Path.Combine(root, CaptionsFile)) ? root
            : Folders.Select(f => Path.Combine(root, f)).FirstOrDefault(Directory.Exists);
        if (folder is null)
            throw new DiffusionException($"Flickr8k not found: looked for {string.Join(", ", Folders.Select(f => $"'{Path.Combine(root, f)}'"))}. "
                + $"To fix: put {CaptionsFile} and {ImagesFolder}/ in '{Path.Combine(root, Folders[0])}', or pass --data-dir <dir> "
                + $"(or set {DataDirectory.EnvironmentVariable}=<dir>) for a directory that holds it.");
        string captionsPath = Path.Combine(folder, CaptionsFile), imagesDir = Path.Combine(folder, ImagesFolder);
        if (!File.Exists(captionsPath))
            throw new DiffusionException($"Flickr8k: the captions file '{captionsPath}' is missing (a CSV with the header image,caption).");
        if (!Directory.Exists(imagesDir))
            throw new DiffusionException($"Flickr8k: the images folder '{imagesDir}' is missing.");

        var byImage = ReadCaptions(captionsPath, cancellationToken);
        // The same files in the same order as ImageFolderDataset reads them (sorted ordinal, then split).
        var files = Directory.EnumerateFiles(imagesDir, "*", SearchOption.AllDirectories)
            .Where(f => ImageFolderDataset.Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .OrderBy(f => f, StringComparer.Ordinal).ToList();
        if (maxImages is int m) files = files.Take(m).ToList();
        bool heldOut = split == DatasetSplit.Test;
        var kept = files.Where((_, i) => ((i + 1) % Datasets.HeldOutEvery == 0) == heldOut).ToList();
        var uncaptioned = kept.Select(Path.GetFileName).Where(f => !byImage.ContainsKey(f!)).ToList();
        if (uncaptioned.Count > 0)
            throw new DiffusionException($"Flickr8k: '{captionsPath}' has no caption for {uncaptioned.Count} image(s) in '{imagesDir}', e.g. {string.Join(", ", uncaptioned.Take(3))}.");

        var options = new ImageFolderOptions
        {
            Size = size, Channels = 3, ClassFromSubfolder = false, MaxImagesPerClass = maxImages,
            HoldOutEvery = Datasets.HeldOutEvery, HeldOut = heldOut,
        };
        var images = ImageFolderDataset.Load(imagesDir, options, progress, cancellationToken);
        if (images.Count != kept.Count)
        {
            images.Dispose();
            throw new DiffusionException($"Flickr8k: only {images.Count} of the {kept.Count} photos in '{imagesDir}' could be decoded; replace the broken files.");
        }
        var captions = kept.Select(f => (IReadOnlyList<string>)byImage[Path.GetFileName(f)!]).ToArray();
        progress?.Report($"Loaded Flickr8k {split.ToString().ToLowerInvariant()}: {images.Count} photos, {captions.Sum(c => c.Count)} captions");
        return new CaptionedImageDataset(images, captions, seed);
    }

    /// <summary>Reads <c>image,caption</c> rows (RFC 4180 quoting) into captions per image file name, in file order.</summary>
    internal static Dictionary<string, List<string>> ReadCaptions(string path, CancellationToken cancellationToken = default)
    {
        var result = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        using var reader = new StreamReader(path, Encoding.UTF8);
        string? header = reader.ReadLine();
        if (header is null || !header.Trim().Equals("image,caption", StringComparison.OrdinalIgnoreCase))
            throw new DiffusionException($"'{path}' should start with the header 'image,caption', got '{header}'.");
        int line = 1;
        for (string? row; (row = reader.ReadLine()) is not null;)
        {
            line++;
            cancellationToken.ThrowIfCancellationRequested();
            if (row.Length == 0) continue;
            int comma = row.IndexOf(',');
            if (comma <= 0) throw new DiffusionException($"'{path}' line {line}: expected 'image,caption', got '{row}'.");
            string image = row[..comma].Trim(), caption = Unquote(row[(comma + 1)..], path, line).Trim();
            if (caption.Length == 0) continue;
            if (!result.TryGetValue(image, out var list)) result[image] = list = [];
            list.Add(caption);
        }
        return result;
    }

    private static string Unquote(string field, string path, int line)
    {
        if (!field.StartsWith('"')) return field;
        if (field.Length < 2 || !field.EndsWith('"'))
            throw new DiffusionException($"'{path}' line {line}: unterminated quoted caption (captions may not span lines).");
        return field[1..^1].Replace("\"\"", "\"", StringComparison.Ordinal);
    }
}
