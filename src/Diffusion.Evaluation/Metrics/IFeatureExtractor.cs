using Diffusion.Core;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>
/// Maps images to feature vectors for FID, KID and precision/recall. Real and generated images must go
/// through the same extractor (and so the same preprocessing) for the metrics to mean anything.
/// </summary>
public interface IFeatureExtractor
{
    /// <summary>A name for reports and cached statistics, e.g. "classifier-mnist".</summary>
    string Name { get; }

    /// <summary>Length D of each feature vector.</summary>
    int Dimension { get; }

    /// <summary>Features of <paramref name="images"/> (N, C, H, W) in [−1, 1]: float64, shape (N, D), on the CPU.</summary>
    /// <exception cref="DiffusionException">The images do not fit the extractor.</exception>
    Tensor Extract(Tensor images, CancellationToken cancellationToken = default);
}
