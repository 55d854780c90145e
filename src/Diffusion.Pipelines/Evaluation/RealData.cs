using Diffusion.Core.Data;

namespace Diffusion.Pipelines.Evaluation;

/// <summary>A run's real training and test images, each read on first use and then shared by the classifier and the metrics.</summary>
internal sealed class RealData(RunOptions options, string dataDirectory, CancellationToken cancellationToken) : IDisposable
{
    private ImageDataset? _train, _test;

    /// <summary>The dataset's key in the classifier and reference caches.</summary>
    public string Key { get; } = Datasets.Key(options.Dataset);

    public ImageDataset Train => _train ??= options.LoadData(dataDirectory, DatasetSplit.Train, cancellationToken: cancellationToken);

    public ImageDataset Test => _test ??= options.LoadData(dataDirectory, DatasetSplit.Test, cancellationToken: cancellationToken);

    public void Dispose()
    {
        _train?.Dispose();
        _test?.Dispose();
    }
}
