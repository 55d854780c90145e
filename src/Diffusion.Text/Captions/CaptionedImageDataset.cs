using Diffusion.Core;
using Diffusion.Core.Data;
using Diffusion.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Text.Captions;

/// <summary>
/// Images with captions for text-conditioned training: an <see cref="ImageDataset"/> plus, per image, the captions it
/// may be shown with. Each time an example is fetched it gets one of its captions, chosen from (seed, example, how many
/// times this example was fetched before): the trainer fetches every example at most once per epoch, so every image is
/// seen with one seeded caption per epoch, and with other captions in other epochs.
/// </summary>
/// <remarks>
/// Batches carry the images, the class labels and the <see cref="TrainingBatch.Captions"/>. The fetch counters live in
/// this object (a resumed run starts counting again, so it sees other, equally seeded, captions than the uninterrupted
/// run would have). Not thread-safe: the trainer fetches batches from one thread.
/// </remarks>
public sealed class CaptionedImageDataset : ITrainingData, IDisposable
{
    private readonly IReadOnlyList<IReadOnlyList<string>> _captions;
    private readonly int[] _draws;
    private readonly bool _ownsImages;
    private bool _disposed;

    /// <summary>Pairs <paramref name="images"/> with <paramref name="captions"/> (index-aligned).</summary>
    /// <param name="images">The images; disposed with this dataset when <paramref name="ownsImages"/> is true.</param>
    /// <param name="captions">For every image, one or more captions.</param>
    /// <param name="seed">Seeds the caption choices.</param>
    /// <param name="ownsImages">Whether <see cref="Dispose"/> disposes <paramref name="images"/>.</param>
    /// <param name="choice">Whether an image's caption changes from fetch to fetch (<see cref="CaptionChoice.PerFetch"/>, the
    /// default) or is one seeded caption per image (<see cref="CaptionChoice.PerExample"/>: batches then depend only on
    /// their indices, so a resumed training run sees exactly the captions of the uninterrupted one).</param>
    /// <exception cref="DiffusionException">The counts differ or an image has no caption.</exception>
    public CaptionedImageDataset(ImageDataset images, IReadOnlyList<IReadOnlyList<string>> captions, long seed = 0, bool ownsImages = true,
        CaptionChoice choice = CaptionChoice.PerFetch)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(captions);
        if (captions.Count != images.Count)
            throw new DiffusionException($"Dataset '{images.Name}' has {images.Count} images but {captions.Count} caption lists.");
        for (int i = 0; i < captions.Count; i++)
            if (captions[i] is null || captions[i].Count == 0)
                throw new DiffusionException($"Dataset '{images.Name}': image {i} has no caption.");
        Images = images;
        _captions = captions;
        _draws = new int[images.Count];
        _ownsImages = ownsImages;
        Seed = seed;
        Choice = choice;
    }

    /// <summary>Captions a labelled dataset with <paramref name="captions"/>' training phrasings of each image's class
    /// (held-out phrasings never appear).</summary>
    /// <param name="images">A labelled dataset.</param>
    /// <param name="captions">Captions for its classes.</param>
    /// <param name="seed">Seeds the caption choices.</param>
    /// <param name="ownsImages">Whether <see cref="Dispose"/> disposes <paramref name="images"/>.</param>
    /// <param name="choice">Per fetch (default) or one caption per image (exactly resumable training).</param>
    /// <exception cref="DiffusionException">The dataset's classes do not match the captions'.</exception>
    public static CaptionedImageDataset FromLabels(ImageDataset images, LabelCaptions captions, long seed = 0, bool ownsImages = true,
        CaptionChoice choice = CaptionChoice.PerFetch)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(captions);
        if (images.Classes.Count != captions.Classes)
            throw new DiffusionException($"Dataset '{images.Name}' has {images.Classes.Count} classes but the '{captions.Name}' captions describe {captions.Classes}.");
        long[] labels = images.Labels.data<long>().ToArray();
        var perImage = labels.Select(l => captions.TrainingPhrasings((int)l)).ToArray();
        return new CaptionedImageDataset(images, perImage, seed, ownsImages, choice);
    }

    /// <summary>The images (and labels).</summary>
    public ImageDataset Images { get; }

    /// <summary>The seed of the caption choices.</summary>
    public long Seed { get; }

    /// <summary>Whether captions change per fetch or are fixed per image.</summary>
    public CaptionChoice Choice { get; }

    /// <inheritdoc />
    public int Count => Images.Count;

    /// <summary>All captions of image <paramref name="index"/>.</summary>
    public IReadOnlyList<string> CaptionsOf(int index) => _captions[index];

    /// <summary>The caption image <paramref name="index"/> gets on its <paramref name="draw"/>-th fetch (0-based).</summary>
    public string CaptionFor(int index, int draw)
    {
        var options = _captions[index];
        return options[SeededChoice.Index(Seed, index, draw, options.Count)];
    }

    /// <summary>The images at <paramref name="indices"/> in [−1, 1] with their labels and one caption each.</summary>
    /// <exception cref="DiffusionException">An index is out of range.</exception>
    public TrainingBatch GetBatch(Tensor indices)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var (x, labels) = Images.Batch(indices); // checks the indices
        long[] idx;
        using (var cpu = indices.to(ScalarType.Int64, CPU)) idx = cpu.data<long>().ToArray();
        var captions = new string[idx.Length];
        for (int k = 0; k < idx.Length; k++)
        {
            int i = (int)idx[k];
            captions[k] = CaptionFor(i, Choice == CaptionChoice.PerExample ? 0 : _draws[i]++);
        }
        return new TrainingBatch(x, labels, captions);
    }

    /// <summary>Disposes the images when this dataset owns them.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_ownsImages) Images.Dispose();
    }
}

/// <summary>How a <see cref="CaptionedImageDataset"/> picks an image's caption.</summary>
public enum CaptionChoice
{
    /// <summary>A seeded caption per (image, fetch count): another caption every epoch. The counts are not saved, so a resumed
    /// run sees other (equally seeded) captions than an uninterrupted one.</summary>
    PerFetch,

    /// <summary>One seeded caption per image, always the same: batches depend only on their indices, so training resumes
    /// exactly. Variety then comes from the many images per class.</summary>
    PerExample,
}
