using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>
/// A trained <see cref="Classifier"/> as a feature extractor (its penultimate activations, giving
/// "FID_dataset" in the spirit of FID with a domain classifier) and as a source of class probabilities
/// for the Inception Score. Runs in eval mode under no_grad, in batches; the result does not depend on the batch size.
/// </summary>
public sealed class ClassifierFeatures : IFeatureExtractor
{
    /// <summary>Wraps <paramref name="classifier"/>.</summary>
    /// <param name="classifier">A trained classifier.</param>
    /// <param name="name">The name reports show, e.g. "classifier-mnist".</param>
    /// <param name="batchSize">Images per forward pass. Default 256.</param>
    /// <exception cref="DiffusionException">The name is empty or the batch size below 1.</exception>
    public ClassifierFeatures(Classifier classifier, string name, int batchSize = 256)
    {
        Classifier = classifier ?? throw new ArgumentNullException(nameof(classifier));
        if (string.IsNullOrWhiteSpace(name)) throw new DiffusionException("A feature extractor needs a non-empty name.");
        if (batchSize < 1) throw new DiffusionException($"Batch size must be at least 1 (got {batchSize}).");
        Name = name;
        BatchSize = batchSize;
    }

    /// <summary>The wrapped classifier.</summary>
    public Classifier Classifier { get; }

    /// <inheritdoc/>
    public string Name { get; }

    /// <summary>Images per forward pass.</summary>
    public int BatchSize { get; }

    /// <inheritdoc/>
    public int Dimension => Classifier.Options.FeatureDim;

    /// <inheritdoc/>
    public Tensor Extract(Tensor images, CancellationToken cancellationToken = default)
        => ClassifierRunner.Map(Classifier, images, BatchSize, x => Classifier.Features(x).to(ScalarType.Float64), cancellationToken);

    /// <summary>Class probabilities p(y|x), float64, shape (N, K), on the CPU.</summary>
    /// <exception cref="DiffusionException">The images do not fit the classifier.</exception>
    public Tensor Probabilities(Tensor images, CancellationToken cancellationToken = default)
        => ClassifierRunner.Map(Classifier, images, BatchSize, x => Classifier.call(x).to(ScalarType.Float64).softmax(1), cancellationToken);
}
