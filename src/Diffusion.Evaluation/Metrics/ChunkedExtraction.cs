using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>Runs a feature extractor over many images in chunks, reporting progress between chunks.</summary>
internal static class ChunkedExtraction
{
    /// <summary>Images per chunk: a multiple of every extractor's default batch size (32 and 256), so chunking never
    /// changes how images are batched.</summary>
    public const int Chunk = 1024;

    /// <summary><paramref name="extractor"/>'s features of <paramref name="images"/>, reporting "what: i/N images" to <paramref name="progress"/>.</summary>
    public static Tensor Extract(IFeatureExtractor extractor, Tensor images, string what, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        long n = images.shape[0];
        if (progress is null || n <= Chunk) return extractor.Extract(images, cancellationToken);
        using var scope = NewDisposeScope();
        var parts = new List<Tensor>();
        for (long start = 0; start < n; start += Chunk)
        {
            parts.Add(extractor.Extract(images.narrow(0, start, Math.Min(Chunk, n - start)), cancellationToken));
            progress.Report($"{what}: {Math.Min(n, start + Chunk)}/{n} images");
        }
        return cat(parts, 0).MoveToOuterDisposeScope();
    }
}
