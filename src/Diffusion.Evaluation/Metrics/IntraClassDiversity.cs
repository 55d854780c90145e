using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>
/// How spread out the images of each class are: the mean Euclidean distance between two different images of the
/// same class in feature space, averaged over the classes (every class weighs the same). Guidance that collapses
/// each class onto a few prototypes lowers it; compare it with the same measure on as many real images per class.
/// </summary>
public static class IntraClassDiversity
{
    /// <summary>Mean pairwise feature distance within each class, averaged over the classes present.</summary>
    /// <param name="features">Features (N, D).</param>
    /// <param name="labels">The class of each row (N of them).</param>
    /// <returns>The average over classes with at least two rows of their mean distance between distinct rows.</returns>
    /// <exception cref="DiffusionException">The shapes disagree, or no class has two rows.</exception>
    public static double Compute(Tensor features, IReadOnlyList<int> labels)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        if (features.dim() != 2 || features.shape[0] != labels.Count)
            throw new DiffusionException($"Features must be (N, D) with one label per row; got ({string.Join(", ", features.shape)}) and {labels.Count} labels.");
        using var scope = NewDisposeScope();
        var x = features.to(ScalarType.Float64, CPU);
        var perClass = new List<double>();
        foreach (var group in Enumerable.Range(0, labels.Count).GroupBy(i => labels[i]).OrderBy(g => g.Key))
        {
            long n = group.Count();
            if (n < 2) continue;
            var rows = x.index_select(0, tensor(group.Select(i => (long)i).ToArray()));
            // The diagonal of cdist is zero, so the sum over all pairs divided by n(n-1) is the mean over distinct pairs.
            perClass.Add(cdist(rows, rows).sum().item<double>() / (n * (n - 1)));
        }
        return perClass.Count > 0 ? perClass.Average() : throw new DiffusionException("Intra-class diversity needs at least one class with two images.");
    }
}
