namespace Diffusion.Core.Data;

/// <summary>
/// One entry point for every dataset a run can name: <c>mnist</c> and <c>fashion-mnist</c> (IDX files),
/// <c>cifar10</c> (pickles or JPEG folders), <c>celeba</c> (a flat folder of face crops, unconditional) and
/// <c>folder:&lt;path&gt;</c> (any image folder: one sub-folder per class, or a flat folder for one class).
/// </summary>
/// <remarks>
/// Datasets without an official test split (CelebA crops, plain folders) hold out every tenth image, in
/// sorted file order, as the test split, so train and test never share an image and the split is the same
/// on every machine.
/// </remarks>
public static class Datasets
{
    /// <summary>The prefix of an image-folder dataset name: <c>folder:/path/to/images</c>.</summary>
    public const string FolderPrefix = "folder:";

    /// <summary>Every <see cref="HeldOutEvery"/>-th image (sorted order, counted from 1) of a dataset without a test split is held out for testing.</summary>
    public const int HeldOutEvery = 10;

    /// <summary>The built-in names; <c>folder:&lt;path&gt;</c> is accepted besides these.</summary>
    public static IReadOnlyList<string> Names { get; } = ["mnist", "fashion-mnist", "cifar10", "celeba"];

    /// <summary>The CelebA sub-folders looked for in the data directory, in this order.</summary>
    public static IReadOnlyList<string> CelebAFolders { get; } = ["celeba-10k", "celeba", "img_align_celeba"];

    /// <summary>Loads one split of a dataset at the size and channel count a network expects.</summary>
    /// <param name="name">A built-in name (see <see cref="Names"/>; also IDX aliases such as "fashion") or <c>folder:&lt;path&gt;</c>.</param>
    /// <param name="dataDir">The data directory (null: DIFFUSION_DATA, then ./data); ignored for absolute <c>folder:</c> paths.</param>
    /// <param name="split">Train or test.</param>
    /// <param name="size">Side length the caller needs; null takes the dataset's own (28 for the IDX sets, 32 for CIFAR-10, 64 for folders).
    /// Fixed-size datasets (IDX, CIFAR-10) must match; folders are resized and centre-cropped to it.</param>
    /// <param name="channels">1 or 3 for folders (RGB is converted to grayscale or back); fixed datasets must match; null takes the dataset's own.</param>
    /// <param name="maxImagesPerClass">Keep at most this many images per class (quick runs and tests); null keeps all. Not for the IDX sets.</param>
    /// <param name="progress">Receives progress lines and one warning per file that could not be decoded.</param>
    /// <param name="cancellationToken">Cancels reading.</param>
    /// <returns>A dataset the caller owns.</returns>
    /// <exception cref="DiffusionException">The name is unknown, the files are missing (the message names them), or size/channels do not fit the dataset.</exception>
    public static ImageDataset Load(string name, string? dataDir, DatasetSplit split, int? size = null, int? channels = null,
        int? maxImagesPerClass = null, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name.StartsWith(FolderPrefix, StringComparison.OrdinalIgnoreCase))
        {
            var path = name[FolderPrefix.Length..];
            if (string.IsNullOrWhiteSpace(path)) throw new DiffusionException($"Dataset '{name}' names no folder; write folder:<path>.");
            var dir = Path.IsPathRooted(path) ? path : Path.Combine(DataDirectory.Resolve(dataDir), path);
            if (!Directory.Exists(dir) && Directory.Exists(Path.GetFullPath(path))) dir = Path.GetFullPath(path);
            return LoadFolder(dir, split, size ?? 64, channels ?? 3, maxImagesPerClass, progress, cancellationToken);
        }
        switch (name.ToLowerInvariant())
        {
            case "cifar10" or "cifar-10":
                Require(name, 32, 3, size, channels);
                return Cifar10.Load(dataDir, split, maxImagesPerClass, progress, cancellationToken);
            case "celeba" or "faces":
                string root = DataDirectory.Resolve(dataDir);
                var found = CelebAFolders.Select(f => Path.Combine(root, f)).FirstOrDefault(Directory.Exists)
                    ?? throw new DiffusionException(
                        $"CelebA not found: looked for a folder of face crops (000001.jpg, 000002.jpg, …) in "
                        + string.Join(", ", CelebAFolders.Select(f => $"'{Path.Combine(root, f)}'"))
                        + $". To fix: put the aligned crops (img_align_celeba) in '{Path.Combine(root, CelebAFolders[0])}', "
                        + $"or pass --data-dir <dir> (or set {DataDirectory.EnvironmentVariable}=<dir>) for a directory that holds one of these folders.");
                return LoadFolder(found, split, size ?? 64, channels ?? 3, maxImagesPerClass, progress, cancellationToken, classFromSubfolder: false);
            default:
                if (maxImagesPerClass is not null)
                    throw new DiffusionException($"maxImagesPerClass is not supported for '{name}'; use ImageDataset.Take on the result.");
                var idx = IdxDatasets.Load(name, dataDir, split, progress: progress, cancellationToken: cancellationToken);
                try { Require(name, 28, 1, size, channels); }
                catch { idx.Dispose(); throw; }
                return idx;
        }
    }

    /// <summary>
    /// Loads one split of an image folder. With <c>train/</c> and <c>test/</c> sub-folders those are the splits;
    /// otherwise every <see cref="HeldOutEvery"/>-th image is the test split and the rest the training split.
    /// Classes come from sub-folders when they hold images (<paramref name="classFromSubfolder"/> null decides by looking), else one class.
    /// </summary>
    /// <exception cref="DiffusionException">The folder is missing or holds no readable images.</exception>
    public static ImageDataset LoadFolder(string dir, DatasetSplit split, int size, int channels = 3, int? maxImagesPerClass = null,
        IProgress<string>? progress = null, CancellationToken cancellationToken = default, bool? classFromSubfolder = null)
    {
        var root = Path.GetFullPath(dir);
        if (!Directory.Exists(root))
            throw new DiffusionException($"Image folder '{root}' does not exist. Pass the folder that holds the images (or one sub-folder per class).");
        string splitName = split == DatasetSplit.Train ? "train" : "test";
        if (Directory.Exists(Path.Combine(root, "train")) && Directory.Exists(Path.Combine(root, "test")))
            return ImageFolderDataset.Load(Path.Combine(root, splitName), Options(Path.Combine(root, splitName)), progress, cancellationToken);

        progress?.Report($"Reading {root} ({splitName} split: {(split == DatasetSplit.Test ? "every" : "all but every")} {Ordinal(HeldOutEvery)} image)");
        return ImageFolderDataset.Load(root, Options(root) with { HoldOutEvery = HeldOutEvery, HeldOut = split == DatasetSplit.Test }, progress, cancellationToken);

        ImageFolderOptions Options(string folder) => new()
        {
            Size = size, Channels = channels, MaxImagesPerClass = maxImagesPerClass,
            ClassFromSubfolder = classFromSubfolder ?? HasClassFolders(folder),
        };
    }

    /// <summary>A file-name-safe key for caches keyed by dataset (classifiers, reference features): the canonical built-in
    /// name, or <c>folder-&lt;folder name&gt;</c> for image folders.</summary>
    public static string Key(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name.StartsWith(FolderPrefix, StringComparison.OrdinalIgnoreCase))
        {
            var leaf = Path.GetFileName(Path.TrimEndingDirectorySeparator(name[FolderPrefix.Length..]));
            return "folder-" + new string(leaf.Select(ch => char.IsLetterOrDigit(ch) || ch is '-' or '_' ? ch : '_').ToArray());
        }
        return name.ToLowerInvariant() switch
        {
            "cifar-10" => "cifar10",
            "faces" => "celeba",
            "fashion" or "fashion_mnist" or "fashionmnist" => "fashion-mnist",
            var n => n,
        };
    }

    private static bool HasClassFolders(string dir)
        => Directory.GetDirectories(dir).Any(d => Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories)
            .Any(f => ImageFolderDataset.Extensions.Contains(Path.GetExtension(f).ToLowerInvariant())));

    private static void Require(string name, int nativeSize, int nativeChannels, int? size, int? channels)
    {
        if (size is int s && s != nativeSize)
            throw new DiffusionException($"Dataset '{name}' has {nativeSize}x{nativeSize} images but the model expects {s}x{s}; set the model's SampleSize to {nativeSize}.");
        if (channels is int c && c != nativeChannels)
            throw new DiffusionException($"Dataset '{name}' has {nativeChannels} channel(s) but the model expects {c}; set the model's InChannels to {nativeChannels}.");
    }

    private static string Ordinal(int n) => n switch { 1 => "1st", 2 => "2nd", 3 => "3rd", _ => $"{n}th" };
}
