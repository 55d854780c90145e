using Diffusion.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation.Tests;

/// <summary>The real MNIST files of the shared data folder, through Core's IDX loader (no downloads), cached per split.</summary>
internal static class MnistFiles
{
    /// <summary>DIFFUSION_DATA (bash test.sh and CI set it), else a shared/data folder found by walking up from the test
    /// assembly (it lies next to the repository), else ./data.</summary>
    public static string DataDirectory { get; } = Find();

    private static string Find()
    {
        string? env = Environment.GetEnvironmentVariable(Core.Data.DataDirectory.EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env) && Directory.Exists(env)) return Path.GetFullPath(env);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared", "data");
            if (Directory.Exists(candidate)) return candidate;
        }
        return Path.GetFullPath("data");
    }

    private static readonly Dictionary<DatasetSplit, ImageDataset> Cache = new();

    public static bool Available => File.Exists(Path.Combine(DataDirectory, "mnist", "t10k-images-idx3-ubyte.gz"));

    /// <summary>The first <paramref name="limit"/> images as float32 (N, 1, 28, 28) in [−1, 1] and their labels as int64 (N),
    /// in the caller's dispose scope.</summary>
    public static (Tensor Images, Tensor Labels) Load(string split, int? limit = null)
    {
        var s = split == "train" ? DatasetSplit.Train : DatasetSplit.Test;
        ImageDataset dataset;
        lock (Cache)
        {
            if (!Cache.TryGetValue(s, out dataset!))
                Cache[s] = dataset = IdxDatasets.Mnist(DataDirectory, s, DownloadOptions.Disabled);
        }
        int n = Math.Min(limit ?? dataset.Count, dataset.Count);
        return dataset.Batch(arange(n, dtype: ScalarType.Int64));
    }

    /// <summary>A new dataset owning copies of the first <paramref name="limit"/> images and labels of the split.</summary>
    public static ImageDataset Dataset(string split, int limit)
    {
        using var scope = NewDisposeScope();
        Load(split, 1);
        ImageDataset dataset;
        lock (Cache) dataset = Cache[split == "train" ? DatasetSplit.Train : DatasetSplit.Test];
        return new ImageDataset(dataset.Images.narrow(0, 0, limit).clone(), dataset.Labels.narrow(0, 0, limit).clone(), dataset.Classes, "mnist");
    }
}
