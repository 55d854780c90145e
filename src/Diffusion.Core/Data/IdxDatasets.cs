using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Data;

/// <summary>
/// Loads MNIST and Fashion-MNIST from their four standard IDX files
/// (<c>train-images-idx3-ubyte.gz</c>, <c>train-labels-idx1-ubyte.gz</c>, <c>t10k-images-idx3-ubyte.gz</c>,
/// <c>t10k-labels-idx1-ubyte.gz</c>; uncompressed copies without <c>.gz</c> work too). Every file's
/// uncompressed content is checked against the md5 of the original release. Missing files are
/// downloaded from the standard mirrors unless <see cref="DownloadOptions.Enabled"/> is false.
/// </summary>
public static class IdxDatasets
{
    private static readonly IReadOnlyList<IdxDatasetSpec> Specs = new[]
    {
        new IdxDatasetSpec(
            "mnist", "MNIST", new[] { "mnist" },
            Enumerable.Range(0, 10).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray(),
            new Dictionary<string, string>
            {
                ["train-images-idx3-ubyte"] = "6bbc9ace898e44ae57da46a324031adb",
                ["train-labels-idx1-ubyte"] = "a25bea736e30d166cdddb491f175f624",
                ["t10k-images-idx3-ubyte"] = "2646ac647ad5339dbf082846283269ea",
                ["t10k-labels-idx1-ubyte"] = "27ae3e4e09519cfbb04c329615203637",
            },
            new[] { "https://ossci-datasets.s3.amazonaws.com/mnist", "https://storage.googleapis.com/cvdf-datasets/mnist", "http://yann.lecun.com/exdb/mnist" },
            new[] { "mnist", "MNIST/raw", "MNIST" }),
        new IdxDatasetSpec(
            "fashion-mnist", "Fashion-MNIST", new[] { "fashion-mnist", "fashion_mnist", "fashionmnist", "fashion" },
            new[] { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" },
            new Dictionary<string, string>
            {
                ["train-images-idx3-ubyte"] = "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                ["train-labels-idx1-ubyte"] = "9018921c3c673c538a1fc5bad174d6f9",
                ["t10k-images-idx3-ubyte"] = "8181f5470baa50b63fa0f6fddb340f0a",
                ["t10k-labels-idx1-ubyte"] = "15d484375f8d13e6eb1aabb0c3f46965",
            },
            new[] { "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com", "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion" },
            new[] { "fashion-mnist", "FashionMNIST/raw", "FashionMNIST" }),
    };

    /// <summary>The canonical names this loader knows: "mnist" and "fashion-mnist".</summary>
    public static IReadOnlyList<string> Names { get; } = Specs.Select(s => s.Name).ToArray();

    /// <summary>Loads MNIST from <paramref name="dataDir"/> (see <see cref="Load"/>).</summary>
    /// <exception cref="DiffusionException">See <see cref="Load"/>.</exception>
    public static ImageDataset Mnist(string? dataDir, DatasetSplit split, DownloadOptions? download = null,
        IProgress<string>? progress = null, CancellationToken cancellationToken = default)
        => Load("mnist", dataDir, split, download, progress, cancellationToken);

    /// <summary>Loads Fashion-MNIST from <paramref name="dataDir"/> (see <see cref="Load"/>).</summary>
    /// <exception cref="DiffusionException">See <see cref="Load"/>.</exception>
    public static ImageDataset FashionMnist(string? dataDir, DatasetSplit split, DownloadOptions? download = null,
        IProgress<string>? progress = null, CancellationToken cancellationToken = default)
        => Load("fashion-mnist", dataDir, split, download, progress, cancellationToken);

    /// <summary>
    /// Loads one split of an IDX dataset as 28×28 grayscale images (N, 1, 28, 28) with labels 0 … 9.
    /// The files are looked for in <c>&lt;dataDir&gt;/&lt;name&gt;</c> (e.g. <c>data/mnist</c>), in torchvision's
    /// <c>&lt;dataDir&gt;/MNIST/raw</c> layout, and in <c>&lt;dataDir&gt;</c> itself; downloads go to
    /// <c>&lt;dataDir&gt;/&lt;name&gt;</c>.
    /// </summary>
    /// <param name="name">"mnist" or "fashion-mnist" (also "fashion", "fashion_mnist"); case-insensitive.</param>
    /// <param name="dataDir">The data directory, resolved by <see cref="DataDirectory.Resolve"/> (null: DIFFUSION_DATA, then ./data).</param>
    /// <param name="split">Train (60,000 images) or test (10,000).</param>
    /// <param name="download">Whether and from where to download missing files; default: standard mirrors, 60 s per file.</param>
    /// <param name="progress">Receives one line per file read or downloaded.</param>
    /// <param name="cancellationToken">Cancels reading or downloading.</param>
    /// <returns>A dataset the caller owns (dispose it).</returns>
    /// <exception cref="DiffusionException">The name is unknown; the files are missing and could not be downloaded
    /// (one message listing where it looked, what it expected and how to fix it); a file is corrupted or fails its checksum.</exception>
    public static ImageDataset Load(string name, string? dataDir, DatasetSplit split, DownloadOptions? download = null,
        IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        var spec = Find(name);
        download ??= new DownloadOptions();
        string root = DataDirectory.Resolve(dataDir);
        string prefix = split == DatasetSplit.Train ? "train" : "t10k";
        string imagesName = $"{prefix}-images-idx3-ubyte", labelsName = $"{prefix}-labels-idx1-ubyte";
        var searched = spec.Folders.Select(f => Path.Combine(root, f)).Append(root).Distinct().ToArray();

        var paths = new Dictionary<string, string>();
        var missing = new List<string>();
        foreach (var file in new[] { imagesName, labelsName })
        {
            string? found = Locate(searched, file);
            if (found is not null) paths[file] = found;
            else missing.Add(file);
        }

        if (missing.Count > 0)
        {
            string target = Path.Combine(root, spec.Folders[0]);
            var mirrors = download.Mirrors ?? spec.Mirrors;
            var failures = new List<string>();
            foreach (var file in missing)
            {
                if (!download.Enabled) break;
                string dest = Path.Combine(target, file + ".gz");
                var failed = DatasetDownloader.TryDownload(file, mirrors, spec.Md5[file], dest, download.Timeout, progress, cancellationToken);
                if (failed is null) paths[file] = dest;
                else failures.AddRange(failed);
            }
            if (paths.Count < 2) throw NotFound(spec, split, searched, missing, download.Enabled, failures, target);
        }

        var images = ReadVerified(spec, imagesName, paths[imagesName], progress, cancellationToken);
        var labels = ReadVerified(spec, labelsName, paths[labelsName], progress, cancellationToken);
        if (images.ElementType != IdxElementType.UInt8 || images.Shape.Count != 3)
            throw new DiffusionException($"'{paths[imagesName]}' should hold uint8 images of shape (N, rows, columns), but holds {images.ElementType} of shape ({string.Join(", ", images.Shape)}).");
        if (labels.ElementType != IdxElementType.UInt8 || labels.Shape.Count != 1 || labels.Shape[0] != images.Shape[0])
            throw new DiffusionException($"'{paths[labelsName]}' should hold {images.Shape[0]} uint8 labels, but holds {labels.ElementType} of shape ({string.Join(", ", labels.Shape)}).");

        using var scope = NewDisposeScope();
        var x = images.ToTensor().unsqueeze(1);            // (N, 1, 28, 28)
        var y = labels.ToTensor().to(ScalarType.Int64);    // (N)
        var dataset = new ImageDataset(x.MoveToOuterDisposeScope(), y.MoveToOuterDisposeScope(), spec.Classes, $"{spec.Name}-{split.ToString().ToLowerInvariant()}");
        progress?.Report($"Loaded {spec.DisplayName} {split.ToString().ToLowerInvariant()}: {dataset.Count} images of {dataset.Size}x{dataset.Size}");
        return dataset;
    }

    private static IdxDatasetSpec Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        string key = name.Trim().ToLowerInvariant();
        return Specs.FirstOrDefault(s => s.Aliases.Contains(key))
            ?? throw new DiffusionException($"Unknown IDX dataset '{name}'. Known: {string.Join(", ", Names)}.");
    }

    private static string? Locate(IEnumerable<string> directories, string file)
    {
        foreach (var dir in directories)
        {
            foreach (var candidate in new[] { Path.Combine(dir, file + ".gz"), Path.Combine(dir, file) })
                if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    private static IdxArray ReadVerified(IdxDatasetSpec spec, string file, string path, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        progress?.Report($"Reading {path}");
        byte[] content = IdxReader.ReadContent(path, cancellationToken);
        string md5 = DatasetDownloader.Md5Hex(content);
        if (md5 != spec.Md5[file])
            throw new DiffusionException($"'{path}' is not the original {spec.DisplayName} file {file}: the md5 of its uncompressed content is {md5}, expected {spec.Md5[file]}. "
                + "It is truncated, corrupted or from another dataset; delete it and download it again.");
        return IdxReader.Parse(content, path);
    }

    private static DiffusionException NotFound(IdxDatasetSpec spec, DatasetSplit split, IReadOnlyList<string> searched,
        IReadOnlyList<string> missing, bool downloadEnabled, IReadOnlyList<string> failures, string target)
    {
        string expected = string.Join(", ", missing.Select(f => f + ".gz"));
        string tried = downloadEnabled
            ? $" Downloading failed: {string.Join("; ", failures)}."
            : " Downloading was disabled.";
        return new DiffusionException(
            $"{spec.DisplayName} ({split.ToString().ToLowerInvariant()} split) not found: looked in {string.Join(", ", searched.Select(d => $"'{d}'"))} "
            + $"for {expected} (or the same without .gz).{tried} "
            + $"To fix: put the four standard files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
            + $"t10k-labels-idx1-ubyte.gz in '{target}', or pass --data-dir <dir> (or set {DataDirectory.EnvironmentVariable}=<dir>) for a directory holding a '{spec.Folders[0]}' folder with them.");
    }

    private sealed record IdxDatasetSpec(
        string Name, string DisplayName, string[] Aliases, string[] Classes,
        IReadOnlyDictionary<string, string> Md5, string[] Mirrors, string[] Folders);
}
