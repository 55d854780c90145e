using System.Globalization;
using System.Text;
using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>How often images of (or generated for) one class are recognised as that class.</summary>
/// <param name="Class">The class index.</param>
/// <param name="Name">The class name, or the index as text.</param>
/// <param name="Count">Images with this requested label.</param>
/// <param name="Correct">Of those, how many the classifier assigned to this class.</param>
public sealed record ClassAccuracyEntry(int Class, string Name, long Count, long Correct)
{
    /// <summary>Correct / Count, or NaN when no image asked for this class.</summary>
    public double Accuracy => Count == 0 ? double.NaN : (double)Correct / Count;
}

/// <summary>Result of <see cref="ClassAccuracy.Evaluate"/>: overall and per-class accuracy plus the confusion counts.</summary>
public sealed record ClassAccuracyReport
{
    /// <summary>Number of images judged.</summary>
    public required long Count { get; init; }

    /// <summary>Fraction of images recognised as their requested class.</summary>
    public required double Accuracy { get; init; }

    /// <summary>One entry per class, in class order.</summary>
    public required IReadOnlyList<ClassAccuracyEntry> PerClass { get; init; }

    /// <summary>Confusion[requested][predicted] = number of images.</summary>
    public required long[][] Confusion { get; init; }

    /// <summary>Formats the report as a Markdown table: one row per class, then the overall row.</summary>
    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine("| class | N | correct | accuracy |");
        sb.AppendLine("| --- | ---: | ---: | ---: |");
        foreach (var e in PerClass)
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {e.Name} | {e.Count} | {e.Correct} | {Percent(e.Accuracy)} |");
        long correct = PerClass.Sum(e => e.Correct);
        sb.AppendLine(CultureInfo.InvariantCulture, $"| **all** | {Count} | {correct} | **{Percent(Accuracy)}** |");
        return sb.ToString();
    }

    private static string Percent(double v) => double.IsNaN(v) ? "—" : (100 * v).ToString("F2", CultureInfo.InvariantCulture) + " %";
}

/// <summary>
/// Class accuracy of a class-conditional generator: the fraction of samples generated for class c that
/// a trained <see cref="Classifier"/> recognises as c. Also gives a classifier's test accuracy when fed
/// real images and their labels.
/// </summary>
public static class ClassAccuracy
{
    /// <summary>Classifies <paramref name="images"/> and compares with <paramref name="requestedLabels"/>.</summary>
    /// <param name="classifier">The judge; run in eval mode under no_grad, its training flag restored after.</param>
    /// <param name="images">Images in [−1, 1], shape (N, C, S, S).</param>
    /// <param name="requestedLabels">The class each image was generated for (or its true label), int64, shape (N).</param>
    /// <param name="classNames">Optional names of the K classes for the report; null uses the indices.</param>
    /// <param name="batchSize">Images per forward pass; the result does not depend on it. Default 256.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <exception cref="DiffusionException">Shapes disagree, a label is outside 0 … K−1, or the names do not number K.</exception>
    public static ClassAccuracyReport Evaluate(Classifier classifier, Tensor images, Tensor requestedLabels,
        IReadOnlyList<string>? classNames = null, int batchSize = 256, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(requestedLabels);
        int k = classifier.Options.Classes;
        if (classNames is not null && classNames.Count != k)
            throw new DiffusionException($"Got {classNames.Count} class names for a classifier with {k} classes.");
        var labels = Labels.ToArray(requestedLabels, images.shape[0], k);

        using var scope = NewDisposeScope();
        var predicted = ClassifierRunner.Predict(classifier, images, batchSize, cancellationToken).data<long>().ToArray();

        var confusion = new long[k][];
        for (int c = 0; c < k; c++) confusion[c] = new long[k];
        for (int i = 0; i < labels.Length; i++) confusion[labels[i]][predicted[i]]++;
        var perClass = Enumerable.Range(0, k)
            .Select(c => new ClassAccuracyEntry(c, classNames?[c] ?? c.ToString(CultureInfo.InvariantCulture), confusion[c].Sum(), confusion[c][c]))
            .ToArray();
        return new ClassAccuracyReport
        {
            Count = labels.Length,
            Accuracy = (double)perClass.Sum(e => e.Correct) / labels.Length,
            PerClass = perClass,
            Confusion = confusion,
        };
    }
}
