using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Data;

/// <summary>
/// A labelled image dataset held in memory as one uint8 tensor (N, C, H, W) of square images, with int64
/// labels (N) and class names. It hands out training batches scaled to [−1, 1] and shuffled epochs of
/// indices; every random choice comes from a caller's <see cref="Generator"/>.
/// </summary>
/// <remarks>The dataset owns its two tensors (they are detached from any dispose scope); dispose it to free them.</remarks>
public sealed class ImageDataset : IDisposable, Training.ITrainingData
{
    private readonly Tensor _images;
    private readonly Tensor _labels;
    private bool _disposed;

    /// <summary>Takes ownership of <paramref name="images"/> and <paramref name="labels"/>.</summary>
    /// <param name="images">uint8, shape (N, C, H, W) with H = W and C = 1 (grayscale) or 3 (RGB).</param>
    /// <param name="labels">int64, shape (N), each in [0, <paramref name="classes"/>.Count).</param>
    /// <param name="classes">Class names, index = label; at least one.</param>
    /// <param name="name">A short name for logs, e.g. "mnist".</param>
    /// <exception cref="DiffusionException">A dtype, shape or label is invalid.</exception>
    public ImageDataset(Tensor images, Tensor labels, IReadOnlyList<string> classes, string name = "images")
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(classes);
        if (images.dtype != ScalarType.Byte || images.dim() != 4)
            throw new DiffusionException($"Dataset '{name}': images must be uint8 of shape (N, C, H, W), got {images.dtype} of shape ({string.Join(", ", images.shape)}).");
        if (images.shape[1] is not (1 or 3))
            throw new DiffusionException($"Dataset '{name}': images must have 1 or 3 channels, got {images.shape[1]}.");
        if (images.shape[2] != images.shape[3])
            throw new DiffusionException($"Dataset '{name}': images must be square, got {images.shape[2]}x{images.shape[3]}; resize or crop them first.");
        if (labels.dtype != ScalarType.Int64 || labels.dim() != 1 || labels.shape[0] != images.shape[0])
            throw new DiffusionException($"Dataset '{name}': labels must be int64 of shape ({images.shape[0]}), got {labels.dtype} of shape ({string.Join(", ", labels.shape)}).");
        if (classes.Count == 0)
            throw new DiffusionException($"Dataset '{name}' needs at least one class name.");
        if (labels.shape[0] > 0)
        {
            using var minT = labels.min();
            using var maxT = labels.max();
            long min = minT.item<long>(), max = maxT.item<long>();
            if (min < 0 || max >= classes.Count)
                throw new DiffusionException($"Dataset '{name}': labels range over [{min}, {max}] but there are {classes.Count} classes.");
        }

        _images = images.DetachFromDisposeScope();
        _labels = labels.DetachFromDisposeScope();
        Classes = classes.ToArray();
        Name = name;
    }

    /// <summary>A short name for logs, e.g. "mnist".</summary>
    public string Name { get; }

    /// <summary>N, the number of images.</summary>
    public int Count => (int)_images.shape[0];

    /// <summary>C: 1 for grayscale, 3 for RGB.</summary>
    public int Channels => (int)_images.shape[1];

    /// <summary>The side length in pixels (images are square, H = W).</summary>
    public int Size => (int)_images.shape[2];

    /// <summary>Class names; label i names class <c>Classes[i]</c>.</summary>
    public IReadOnlyList<string> Classes { get; }

    /// <summary>The images, uint8 (N, C, H, W), owned by the dataset: don't dispose or modify.</summary>
    public Tensor Images { get { ThrowIfDisposed(); return _images; } }

    /// <summary>The labels, int64 (N), owned by the dataset: don't dispose or modify.</summary>
    public Tensor Labels { get { ThrowIfDisposed(); return _labels; } }

    /// <summary>
    /// Gathers the images and labels at <paramref name="indices"/> as a training batch: x = u/127.5 − 1
    /// (float32 in [−1, 1]) for pixel values u in 0 … 255.
    /// </summary>
    /// <param name="indices">int64 (B), each in [0, <see cref="Count"/>).</param>
    /// <param name="flipGenerator">When set, each image is mirrored left-right with probability ½, drawn from this
    /// generator (horizontal-flip augmentation, as used for CIFAR-10 and faces; leave null for digits).</param>
    /// <param name="device">Where to put the batch; default CPU.</param>
    /// <returns>x float32 (B, C, H, W) and labels int64 (B), in the caller's dispose scope.</returns>
    /// <exception cref="DiffusionException">An index is out of range or <paramref name="indices"/> is not a 1-D integer tensor.</exception>
    public (Tensor X, Tensor Labels) Batch(Tensor indices, Generator? flipGenerator = null, Device? device = null)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(indices);
        if (indices.dim() != 1 || !is_integral(indices.dtype))
            throw new DiffusionException($"Batch indices must be a 1-D integer tensor, got {indices.dtype} of shape ({string.Join(", ", indices.shape)}).");
        using var scope = NewDisposeScope();
        var idx = indices.to(ScalarType.Int64, CPU);
        if (idx.shape[0] > 0)
        {
            long min = idx.min().item<long>(), max = idx.max().item<long>();
            if (min < 0 || max >= Count)
                throw new DiffusionException($"Batch index out of range: got [{min}, {max}], dataset '{Name}' has {Count} images.");
        }
        var u = _images.index_select(0, idx);                                  // (B, C, H, W) uint8
        var x = u.to(ScalarType.Float32).div_(127.5).sub_(1.0);
        if (flipGenerator is not null && idx.shape[0] > 0)
        {
            var flip = rand(new[] { idx.shape[0] }, generator: flipGenerator).lt(0.5).view(-1, 1, 1, 1); // (B, 1, 1, 1)
            x = where(flip, x.flip(3), x);
        }
        var labels = _labels.index_select(0, idx);
        if (device is not null)
        {
            x = x.to(device);
            labels = labels.to(device);
        }
        return (x.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope());
    }

    /// <summary>The images at <paramref name="indices"/> in [−1, 1] with their class labels
    /// (the trainer applies flips itself, from its own generator).</summary>
    /// <exception cref="DiffusionException">An index is out of range.</exception>
    public Training.TrainingBatch GetBatch(Tensor indices)
    {
        var (x, labels) = Batch(indices);
        return new Training.TrainingBatch(x, labels);
    }

    /// <summary>
    /// One epoch of shuffled batch indices: a random permutation of 0 … N−1 drawn from
    /// <paramref name="generator"/>, cut into batches of <paramref name="batchSize"/>.
    /// </summary>
    /// <param name="batchSize">Indices per batch, ≥ 1.</param>
    /// <param name="generator">Source of the permutation; the same seed gives the same order.</param>
    /// <param name="dropLast">Drop the final batch when it is smaller than <paramref name="batchSize"/>.</param>
    /// <returns>int64 tensors (≤ batchSize) on the CPU. Each is created when the enumeration reaches it,
    /// in the dispose scope current at that moment; the caller owns it.</returns>
    /// <exception cref="DiffusionException"><paramref name="batchSize"/> is less than 1.</exception>
    public IEnumerable<Tensor> Epoch(int batchSize, Generator generator, bool dropLast = false)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(generator);
        if (batchSize < 1) throw new DiffusionException($"Batch size must be at least 1, got {batchSize}.");
        // The permutation is drawn eagerly (so the generator advances when Epoch is called, not later)
        // and kept as managed memory, so no tensor lives across the iterator's yields.
        long[] order;
        using (var perm = randperm(Count, generator: generator)) order = perm.data<long>().ToArray();
        return Slices(order, batchSize, dropLast);
    }

    /// <summary>A new dataset holding copies of the images at <paramref name="indices"/> (e.g. a small subset for tests).</summary>
    /// <param name="indices">int64 (K), each in [0, <see cref="Count"/>).</param>
    /// <exception cref="DiffusionException">An index is out of range.</exception>
    public ImageDataset Subset(Tensor indices)
    {
        ThrowIfDisposed();
        using var scope = NewDisposeScope();
        var idx = indices.to(ScalarType.Int64, CPU);
        if (idx.numel() > 0 && (idx.min().item<long>() < 0 || idx.max().item<long>() >= Count))
            throw new DiffusionException($"Subset index out of range: dataset '{Name}' has {Count} images.");
        var images = _images.index_select(0, idx);
        var labels = _labels.index_select(0, idx);
        return new ImageDataset(images.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope(), Classes, Name);
    }

    /// <summary>A new dataset holding copies of the first <paramref name="count"/> images (all of them if there are fewer).</summary>
    /// <exception cref="DiffusionException"><paramref name="count"/> is negative.</exception>
    public ImageDataset Take(int count)
    {
        if (count < 0) throw new DiffusionException($"Cannot take {count} images.");
        using var idx = arange(Math.Min(count, Count), dtype: ScalarType.Int64);
        return Subset(idx);
    }

    /// <summary>Frees the image and label tensors.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _images.Dispose();
        _labels.Dispose();
    }

    private static IEnumerable<Tensor> Slices(long[] order, int batchSize, bool dropLast)
    {
        for (int start = 0; start < order.Length; start += batchSize)
        {
            int n = Math.Min(batchSize, order.Length - start);
            if (n < batchSize && dropLast) yield break;
            yield return tensor(order.AsSpan(start, n).ToArray(), dtype: ScalarType.Int64);
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
