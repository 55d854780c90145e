using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>
/// Runs a classifier over many images for evaluation: eval mode (batch norm uses its running
/// statistics and does not update them), no_grad, fixed-size batches each in its own dispose scope,
/// every batch through <see cref="Classifier.Preprocess"/>. The module's training flag is restored after.
/// </summary>
internal static class ClassifierRunner
{
    /// <summary>Applies <paramref name="map"/> to each preprocessed batch and concatenates the outputs on the CPU.</summary>
    public static Tensor Map(Classifier classifier, Tensor images, int batchSize, Func<Tensor, Tensor> map, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentNullException.ThrowIfNull(images);
        if (batchSize < 1) throw new DiffusionException($"Batch size must be at least 1 (got {batchSize}).");
        if (images.dim() != 4 || images.shape[0] == 0)
            throw new DiffusionException($"Expected a non-empty batch of images (N, C, H, W), got ({string.Join(", ", images.shape)}).");

        bool wasTraining = classifier.training;
        classifier.eval();
        try
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            long n = images.shape[0];
            var outputs = new List<Tensor>();
            for (long start = 0; start < n; start += batchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var step = NewDisposeScope();
                var x = classifier.Preprocess(images.narrow(0, start, Math.Min(batchSize, n - start)));
                outputs.Add(map(x).cpu().MoveToOuterDisposeScope());
            }
            return cat(outputs, 0).MoveToOuterDisposeScope();
        }
        finally
        {
            classifier.train(wasTraining);
        }
    }

    /// <summary>Predicted class (argmax of the logits), int64, shape (N).</summary>
    public static Tensor Predict(Classifier classifier, Tensor images, int batchSize, CancellationToken cancellationToken)
        => Map(classifier, images, batchSize, x => classifier.call(x).argmax(1), cancellationToken);
}
