using Diffusion.Core;
using Diffusion.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>
/// The real images samples are compared with: a dataset's test split (the reference) and its train split (the source
/// of the floor's stand-in samples). Subsets are drawn reproducibly from a seed. Does not own the datasets.
/// </summary>
public sealed class RealImages
{
    /// <summary>Wraps the two splits of one dataset.</summary>
    /// <param name="dataset">A file-name-safe dataset name for cache keys, e.g. "mnist".</param>
    /// <param name="train">The train split.</param>
    /// <param name="test">The test split.</param>
    /// <exception cref="DiffusionException">The name is empty or the splits differ in image shape.</exception>
    public RealImages(string dataset, ImageDataset train, ImageDataset test)
    {
        if (string.IsNullOrWhiteSpace(dataset)) throw new DiffusionException("Real images need a dataset name.");
        Train = train ?? throw new ArgumentNullException(nameof(train));
        Test = test ?? throw new ArgumentNullException(nameof(test));
        if (train.Channels != test.Channels || train.Size != test.Size)
            throw new DiffusionException($"The train and test splits of '{dataset}' differ in image shape ({train.Channels}×{train.Size}² vs {test.Channels}×{test.Size}²).");
        Dataset = dataset;
    }

    /// <summary>The dataset name.</summary>
    public string Dataset { get; }

    /// <summary>The train split.</summary>
    public ImageDataset Train { get; }

    /// <summary>The test split.</summary>
    public ImageDataset Test { get; }

    /// <summary>The split's name in cache keys: "train" or "test".</summary>
    public static string SplitName(DatasetSplit split) => split == DatasetSplit.Train ? "train" : "test";

    /// <summary><paramref name="count"/> images of <paramref name="split"/> as float32 (N, C, S, S) in [−1, 1]: the whole
    /// split in order when N is its size, else the first N of a permutation drawn from <paramref name="seed"/>.</summary>
    /// <exception cref="DiffusionException">The split has fewer than <paramref name="count"/> images.</exception>
    public Tensor Subset(DatasetSplit split, int count, long seed)
    {
        var data = split == DatasetSplit.Train ? Train : Test;
        if (count < 1 || count > data.Count)
            throw new DiffusionException($"Asked for {count} {SplitName(split)} images of '{Dataset}', which has {data.Count}.");
        using var scope = NewDisposeScope();
        var indices = count == data.Count
            ? arange(count, dtype: ScalarType.Int64)
            : randperm(data.Count, generator: new Generator((ulong)seed, CPU)).narrow(0, 0, count).sort().Values;
        return data.Batch(indices).X.MoveToOuterDisposeScope();
    }

    /// <summary>The cache key of <paramref name="count"/> images of <paramref name="split"/> through <paramref name="extractor"/>.</summary>
    public ReferenceKey Key(DatasetSplit split, string extractor, int count, long seed) => new(Dataset, SplitName(split), extractor, count, seed);
}
