using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>
/// The standard FID features: the 2048-d pool3 activations of pytorch-fid's FID Inception-v3
/// (<see cref="FidInceptionV3"/>), with weights the user provides (pytorch-fid's
/// <c>pt_inception-2015-12-05-6726825d.pth</c>, or the same tensors as safetensors). Preprocessing, identical for real and
/// generated images (<see cref="Preprocess"/>): clamp to [−1, 1], grayscale repeated to three channels, bilinear resize
/// to 299 × 299 (align_corners = false), as pytorch-fid does; inputs stay in [−1, 1]. Runs in eval mode under no_grad
/// in batches; the result does not depend on the batch size.
/// </summary>
/// <remarks>Only tested on random weights here (no pretrained Inception weights are available on the development
/// machines): output shapes, eval-mode behaviour and weight round trips are tested, but no FID value has been
/// compared with pytorch-fid's, so check a known FID before relying on the numbers.</remarks>
public sealed class InceptionV3Features : IFeatureExtractor, IDisposable
{
    /// <summary>The name reports and cached statistics carry.</summary>
    public const string ExtractorName = "inception-v3-fid";

    private readonly bool _ownsNetwork;
    private bool _disposed;

    /// <summary>Builds the network and loads <paramref name="weightsPath"/> into it strictly.</summary>
    /// <param name="weightsPath">pytorch-fid's state dict (<c>.pth</c>) or a <c>.safetensors</c> file with the same tensors.</param>
    /// <param name="batchSize">Images per forward pass. Default 32.</param>
    /// <exception cref="DiffusionException">The file is missing, unreadable or does not match the network (the message names it).</exception>
    public InceptionV3Features(string weightsPath, int batchSize = 32)
    {
        ArgumentException.ThrowIfNullOrEmpty(weightsPath);
        if (batchSize < 1) throw new DiffusionException($"Batch size must be at least 1 (got {batchSize}).");
        var network = new FidInceptionV3();
        try { network.LoadWeights(weightsPath); }
        catch { network.Dispose(); throw; }
        Network = network;
        BatchSize = batchSize;
        _ownsNetwork = true;
    }

    /// <summary>Wraps a network the caller owns (e.g. one with random weights, for tests).</summary>
    /// <param name="network">The network; not disposed with this extractor.</param>
    /// <param name="batchSize">Images per forward pass. Default 32.</param>
    /// <exception cref="DiffusionException">The batch size is below 1.</exception>
    public InceptionV3Features(FidInceptionV3 network, int batchSize = 32)
    {
        Network = network ?? throw new ArgumentNullException(nameof(network));
        if (batchSize < 1) throw new DiffusionException($"Batch size must be at least 1 (got {batchSize}).");
        BatchSize = batchSize;
    }

    /// <summary>The network.</summary>
    public FidInceptionV3 Network { get; }

    /// <summary>Images per forward pass.</summary>
    public int BatchSize { get; }

    /// <inheritdoc/>
    public string Name => ExtractorName;

    /// <inheritdoc/>
    public int Dimension => FidInceptionV3.PoolFeatures;

    /// <inheritdoc/>
    public Tensor Extract(Tensor images, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ImagePreprocessing.Check(images, Name);
        bool wasTraining = Network.training;
        Network.eval();
        try
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var device = Network.parameters().First().device;
            long n = images.shape[0];
            var outputs = new List<Tensor>();
            for (long start = 0; start < n; start += BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var step = NewDisposeScope();
                var x = Preprocess(images.narrow(0, start, Math.Min(BatchSize, n - start))).to(device);
                outputs.Add(Network.call(x).to(ScalarType.Float64).cpu().MoveToOuterDisposeScope());   // (b, 2048)
            }
            return cat(outputs, 0).MoveToOuterDisposeScope();                                            // (N, 2048)
        }
        finally
        {
            Network.train(wasTraining);
        }
    }

    /// <summary>The network's input for <paramref name="images"/> (N, 1 or 3, H, W) in [−1, 1]: float32 (N, 3, 299, 299)
    /// in [−1, 1]. The one preprocessing path of <see cref="Extract"/>.</summary>
    /// <exception cref="DiffusionException">The images are not a floating-point (N, 1 or 3, H, W) batch.</exception>
    public Tensor Preprocess(Tensor images)
    {
        ImagePreprocessing.Check(images, Name);
        return ImagePreprocessing.ToRgb(images, FidInceptionV3.InputSize);
    }

    /// <summary>Disposes the network when this extractor loaded it.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_ownsNetwork) Network.Dispose();
    }
}
