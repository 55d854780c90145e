using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Data;

/// <summary>
/// Loads CIFAR-10 (32×32 RGB, 10 classes; 50,000 train and 10,000 test images) from either the standard
/// <c>cifar-10-batches-py</c> pickles (<c>data_batch_1</c> … <c>data_batch_5</c>, <c>test_batch</c>, read by a
/// restricted reader that executes nothing) or image folders <c>train/&lt;class&gt;/*.jpg</c> and <c>test/&lt;class&gt;/*.jpg</c>.
/// </summary>
public static class Cifar10
{
    /// <summary>The class names in label order.</summary>
    public static IReadOnlyList<string> Classes { get; } = new[] { "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck" };

    private const int Side = 32;
    private const int RowBytes = 3 * Side * Side;

    /// <summary>
    /// Loads one split from the data directory, looking (in this order) for the pickles in
    /// <c>&lt;dataDir&gt;/cifar-10-batches-py</c>, <c>&lt;dataDir&gt;/cifar10/cifar-10-batches-py</c> or <c>&lt;dataDir&gt;</c> itself,
    /// then for image folders <c>&lt;dataDir&gt;/cifar10-jpeg/&lt;split&gt;</c>, <c>&lt;dataDir&gt;/cifar10/&lt;split&gt;</c> or <c>&lt;dataDir&gt;/&lt;split&gt;</c>.
    /// </summary>
    /// <param name="dataDir">The data directory, resolved by <see cref="DataDirectory.Resolve"/> (null: DIFFUSION_DATA, then ./data).</param>
    /// <param name="split">Train or test.</param>
    /// <param name="maxImagesPerClass">Keep only the first this many images of each class (quick runs and tests); null keeps all.</param>
    /// <param name="warnings">Receives progress lines and one warning per image file that could not be decoded.</param>
    /// <param name="cancellationToken">Cancels reading.</param>
    /// <returns>A dataset of uint8 (N, 3, 32, 32) images the caller owns.</returns>
    /// <exception cref="DiffusionException">Nothing was found (the message lists where it looked and how to fix it), or a file is corrupted.</exception>
    public static ImageDataset Load(string? dataDir, DatasetSplit split, int? maxImagesPerClass = null,
        IProgress<string>? warnings = null, CancellationToken cancellationToken = default)
    {
        if (maxImagesPerClass is < 1) throw new DiffusionException($"maxImagesPerClass must be at least 1, got {maxImagesPerClass}.");
        string root = DataDirectory.Resolve(dataDir);
        string splitName = split == DatasetSplit.Train ? "train" : "test";

        var pickleDirs = new[] { Path.Combine(root, "cifar-10-batches-py"), Path.Combine(root, "cifar10", "cifar-10-batches-py"), root };
        foreach (var dir in pickleDirs)
            if (File.Exists(Path.Combine(dir, split == DatasetSplit.Train ? "data_batch_1" : "test_batch")))
                return LoadPickles(dir, split, maxImagesPerClass, warnings, cancellationToken);

        var folderDirs = new[] { Path.Combine(root, "cifar10-jpeg", splitName), Path.Combine(root, "cifar10", splitName), Path.Combine(root, splitName) };
        foreach (var dir in folderDirs)
            if (Directory.Exists(dir) && Classes.All(c => Directory.Exists(Path.Combine(dir, c))))
                return LoadFolder(dir, maxImagesPerClass, warnings, cancellationToken);

        throw new DiffusionException(
            $"CIFAR-10 ({splitName} split) not found: looked for the pickles data_batch_1 … data_batch_5 and test_batch in "
            + string.Join(", ", pickleDirs.Select(d => $"'{d}'"))
            + $", and for image folders {splitName}/<class>/*.jpg (classes {string.Join(", ", Classes)}) in "
            + string.Join(", ", folderDirs.Select(d => $"'{d}'"))
            + $". To fix: extract cifar-10-python.tar.gz (from the CIFAR-10 home page) into '{root}' so that '{pickleDirs[0]}' exists, "
            + $"or pass --data-dir <dir> (or set {DataDirectory.EnvironmentVariable}=<dir>) for a directory that holds it.");
    }

    /// <summary>Loads one split from a <c>cifar-10-batches-py</c> folder.</summary>
    /// <param name="batchesDir">The folder holding <c>data_batch_1</c> … <c>data_batch_5</c> and <c>test_batch</c>.</param>
    /// <param name="split">Train (five batches) or test (one).</param>
    /// <param name="maxImagesPerClass">Keep only the first this many images of each class; null keeps all.</param>
    /// <param name="progress">Receives one line per batch file read.</param>
    /// <param name="cancellationToken">Checked between files.</param>
    /// <exception cref="DiffusionException">A batch file is missing, is not a CIFAR-10 batch, or is corrupted.</exception>
    public static ImageDataset LoadPickles(string batchesDir, DatasetSplit split, int? maxImagesPerClass = null,
        IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        var names = split == DatasetSplit.Train ? Enumerable.Range(1, 5).Select(i => $"data_batch_{i}").ToArray() : new[] { "test_batch" };
        var data = new List<byte[]>();
        var labels = new List<long>();
        foreach (var name in names)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string path = Path.Combine(batchesDir, name);
            if (!File.Exists(path))
                throw new DiffusionException($"CIFAR-10 batch '{path}' is missing; the folder should hold {string.Join(", ", names)}. Extract cifar-10-python.tar.gz again.");
            progress?.Report($"Reading {path}");
            var (rows, rowLabels) = ReadBatch(path);
            data.Add(rows);
            labels.AddRange(rowLabels);
        }

        var keep = SelectPerClass(labels, maxImagesPerClass);
        using var scope = NewDisposeScope();
        var images = empty(new long[] { keep.Length, 3, Side, Side }, dtype: ScalarType.Byte);   // (N, 3, 32, 32): each row is R plane, G plane, B plane
        var target = images.bytes;
        var starts = new int[data.Count];                                                   // first row index of each batch
        for (int b = 1; b < data.Count; b++) starts[b] = starts[b - 1] + data[b - 1].Length / RowBytes;
        for (int k = 0; k < keep.Length; k++)
        {
            int i = keep[k];
            int batch = Array.BinarySearch(starts, i);
            if (batch < 0) batch = ~batch - 1;
            data[batch].AsSpan((i - starts[batch]) * RowBytes, RowBytes).CopyTo(target.Slice(k * RowBytes, RowBytes));
        }
        var y = tensor(keep.Select(i => labels[i]).ToArray(), dtype: ScalarType.Int64);
        return new ImageDataset(images.MoveToOuterDisposeScope(), y.MoveToOuterDisposeScope(), Classes, $"cifar10-{split.ToString().ToLowerInvariant()}");
    }

    private static ImageDataset LoadFolder(string dir, int? maxImagesPerClass, IProgress<string>? warnings, CancellationToken cancellationToken)
    {
        warnings?.Report($"Reading image folders in {dir}");
        var ds = ImageFolderDataset.Load(dir, new ImageFolderOptions { Size = Side, Channels = 3, MaxImagesPerClass = maxImagesPerClass }, warnings, cancellationToken);
        if (!ds.Classes.SequenceEqual(Classes))
        {
            var found = string.Join(", ", ds.Classes);
            ds.Dispose();
            throw new DiffusionException($"'{dir}' has class folders {found}; CIFAR-10 needs exactly {string.Join(", ", Classes)}.");
        }
        return ds;
    }

    private static (byte[] Rows, List<long> Labels) ReadBatch(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DiffusionException($"Cannot read CIFAR-10 batch '{path}': {e.Message}", e);
        }
        var root = PickleReader.Load(bytes, path) as Dictionary<object, object?>
            ?? throw new DiffusionException($"'{path}' is not a CIFAR-10 batch: its pickle does not hold a dict.");
        var array = root.GetValueOrDefault("data") as PickleReader.NumpyArray
            ?? throw new DiffusionException($"'{path}' is not a CIFAR-10 batch: it has no 'data' array.");
        var labelList = (root.GetValueOrDefault("labels") ?? root.GetValueOrDefault("fine_labels")) as List<object?>
            ?? throw new DiffusionException($"'{path}' is not a CIFAR-10 batch: it has no 'labels' list.");
        if (array.DType.TrimStart('|', '<', '>', '=') != "u1" || array.Shape.Length != 2 || array.Shape[1] != RowBytes || array.Fortran
            || array.Data.Length != array.Shape[0] * RowBytes)
            throw new DiffusionException($"'{path}': 'data' should be a C-order uint8 array of shape (N, {RowBytes}) but is {array.DType} of shape ({string.Join(", ", array.Shape)}) with {array.Data.Length} bytes.");
        if (labelList.Count != array.Shape[0])
            throw new DiffusionException($"'{path}': {labelList.Count} labels for {array.Shape[0]} images.");
        var labels = labelList.Select(l => l is long v && v >= 0 && v < Classes.Count ? v
            : throw new DiffusionException($"'{path}': label {l} is not a class index 0 … 9.")).ToList();
        return (array.Data, labels);
    }

    private static int[] SelectPerClass(List<long> labels, int? maxPerClass)
    {
        if (maxPerClass is not int max) return Enumerable.Range(0, labels.Count).ToArray();
        var seen = new int[Classes.Count];
        return Enumerable.Range(0, labels.Count).Where(i => seen[labels[i]]++ < max).ToArray();
    }
}
