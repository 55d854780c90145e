using System.Globalization;
using Diffusion.Core;

namespace Diffusion.Text.Captions;

/// <summary>
/// Captions made from class labels, in many phrasings ("digit 7", "the number seven", "a handwritten 7", "a sneaker",
/// "a photo of a sandal", …), so a text-conditioned model trained on a labelled dataset sees language rather than one
/// fixed string per class. Each phrasing is a template filled with one of the class's names.
/// </summary>
/// <remarks>
/// Some templates are held out of training (<see cref="HeldOutPhrasings"/>): a model trained on
/// <see cref="TrainingPhrasings"/> never sees them, so sampling from them tests whether it generalises to new wording of
/// a known class. The two sets are disjoint for every class (checked when the captions are built). The phrasings of a
/// class are fixed and ordered, so seeded choices among them are the same on every machine.
/// </remarks>
public sealed class LabelCaptions
{
    private readonly string[][] _training;
    private readonly string[][] _heldOut;

    private LabelCaptions(string name, IReadOnlyList<string> classNames, string[][] training, string[][] heldOut)
    {
        Name = name;
        ClassNames = classNames;
        _training = training;
        _heldOut = heldOut;
        for (int c = 0; c < training.Length; c++)
        {
            if (training[c].Length == 0 || heldOut[c].Length == 0)
                throw new DiffusionException($"Captions for '{name}' class {c} need at least one training and one held-out phrasing.");
            var both = training[c].Intersect(heldOut[c], StringComparer.Ordinal).ToList();
            if (both.Count > 0)
                throw new DiffusionException($"Captions for '{name}' class {c}: {string.Join(", ", both.Select(s => $"'{s}'"))} is both a training and a held-out phrasing.");
        }
    }

    /// <summary>The dataset these captions describe, e.g. "mnist".</summary>
    public string Name { get; }

    /// <summary>The dataset's class names, index = label.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Number of classes.</summary>
    public int Classes => _training.Length;

    /// <summary>The phrasings of <paramref name="label"/> used for training, in a fixed order, without duplicates.</summary>
    /// <exception cref="DiffusionException">The label is out of range.</exception>
    public IReadOnlyList<string> TrainingPhrasings(int label) => _training[Check(label)];

    /// <summary>The phrasings of <paramref name="label"/> never used for training (for evaluating generalisation to new wording).</summary>
    /// <exception cref="DiffusionException">The label is out of range.</exception>
    public IReadOnlyList<string> HeldOutPhrasings(int label) => _heldOut[Check(label)];

    /// <summary>One training phrasing of <paramref name="label"/>, chosen from (<paramref name="seed"/>, <paramref name="example"/>,
    /// <paramref name="draw"/>): the same arguments always give the same caption.</summary>
    /// <param name="label">The class.</param>
    /// <param name="seed">The run's seed.</param>
    /// <param name="example">The example's index in its dataset.</param>
    /// <param name="draw">Which draw for this example (e.g. the epoch).</param>
    /// <exception cref="DiffusionException">The label is out of range.</exception>
    public string Caption(int label, long seed, long example, long draw = 0)
    {
        var phrasings = _training[Check(label)];
        return phrasings[SeededChoice.Index(seed, example, draw, phrasings.Length)];
    }

    /// <summary>Label captions for MNIST (digits 0–9): digits as numerals and words, e.g. "digit 7", "the number seven",
    /// "a handwritten 7", "seven". Held out: "a photo of the number seven", "a scribbled 7", "the numeral seven, written by hand",
    /// "7 drawn in ink" (for each digit).</summary>
    public static LabelCaptions Mnist => LazyMnist.Value;

    /// <summary>Label captions for Fashion-MNIST: e.g. "a sneaker", "a photo of a sandal", "trousers", "a picture of a coat".
    /// Held out: "a close-up photo of …", "a catalogue picture of …", "… for sale", "a worn … on a shelf" (for each class
    /// and each of its names).</summary>
    public static LabelCaptions FashionMnist => LazyFashion.Value;

    /// <summary>The captions for a dataset name ("mnist", "fashion-mnist" and its aliases).</summary>
    /// <exception cref="DiffusionException">No label captions are defined for the dataset.</exception>
    public static LabelCaptions For(string dataset)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dataset);
        return dataset.Trim().ToLowerInvariant() switch
        {
            "mnist" => Mnist,
            "fashion-mnist" or "fashion_mnist" or "fashionmnist" or "fashion" => FashionMnist,
            _ => throw new DiffusionException($"No label captions are defined for dataset '{dataset}'. Known: mnist, fashion-mnist."),
        };
    }

    // Lazy: the template arrays below must be initialised first.
    private static readonly Lazy<LabelCaptions> LazyMnist = new(BuildMnist);
    private static readonly Lazy<LabelCaptions> LazyFashion = new(BuildFashion);

    private int Check(int label)
        => label >= 0 && label < _training.Length ? label
        : throw new DiffusionException($"Label {label} is out of range: '{Name}' has classes 0 to {_training.Length - 1}.");

    // {d}: the numeral ("7"), {w}: the word ("seven").
    private static readonly string[] MnistTraining =
    [
        "{d}", "{w}", "digit {d}", "digit {w}", "the digit {d}", "the digit {w}", "number {d}", "the number {d}",
        "the number {w}", "a {d}", "a handwritten {d}", "a handwritten {w}", "handwritten digit {d}", "a picture of a {d}",
        "an image of the digit {w}", "a drawing of the number {w}", "a black and white {d}", "the numeral {d}",
    ];

    private static readonly string[] MnistHeldOut =
    [
        "a photo of the number {w}", "a scribbled {d}", "the numeral {w}, written by hand", "{d} drawn in ink",
    ];

    private static readonly string[] DigitWords = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

    private static LabelCaptions BuildMnist()
    {
        string[][] Fill(string[] templates) => Enumerable.Range(0, 10).Select(d => templates
            .Select(t => t.Replace("{d}", d.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
                          .Replace("{w}", DigitWords[d], StringComparison.Ordinal))
            .Distinct(StringComparer.Ordinal).ToArray()).ToArray();
        return new LabelCaptions("mnist", Enumerable.Range(0, 10).Select(d => d.ToString(CultureInfo.InvariantCulture)).ToArray(),
            Fill(MnistTraining), Fill(MnistHeldOut));
    }

    // Each Fashion-MNIST class has one or more names, with article ({a}: "a sneaker") and without ({n}: "sneaker").
    private static readonly (string A, string N)[][] FashionNames =
    [
        [("a t-shirt", "t-shirt"), ("a top", "top")],
        [("a pair of trousers", "trousers"), ("a pair of pants", "pants")],
        [("a pullover", "pullover"), ("a sweater", "sweater")],
        [("a dress", "dress")],
        [("a coat", "coat"), ("a jacket", "jacket")],
        [("a sandal", "sandal")],
        [("a shirt", "shirt")],
        [("a sneaker", "sneaker"), ("a running shoe", "running shoe")],
        [("a bag", "bag"), ("a handbag", "handbag")],
        [("an ankle boot", "ankle boot"), ("a boot", "boot")],
    ];

    private static readonly string[] FashionTraining =
    [
        "{a}", "{n}", "a photo of {a}", "a picture of {a}", "an image of {a}", "a grayscale photo of {a}",
        "{a} on a black background", "a product photo of {a}", "a small picture of {a}", "clothing: {n}",
        "a fashion item, {a}", "a low-resolution photo of {a}",
    ];

    private static readonly string[] FashionHeldOut =
    [
        "a close-up photo of {a}", "a catalogue picture of {a}", "{n} for sale", "a worn {n} on a shelf",
    ];

    private static LabelCaptions BuildFashion()
    {
        string[][] Fill(string[] templates) => FashionNames.Select(names => templates
            .SelectMany(t => names.Select(x => t.Replace("{a}", x.A, StringComparison.Ordinal).Replace("{n}", x.N, StringComparison.Ordinal)))
            .Distinct(StringComparer.Ordinal).ToArray()).ToArray();
        return new LabelCaptions("fashion-mnist",
            ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
            Fill(FashionTraining), Fill(FashionHeldOut));
    }
}

/// <summary>Seeded choices that depend only on their arguments (SplitMix64 mixing), the same on every machine and
/// independent of any generator's state, so a caption drawn for (seed, example, draw) never changes.</summary>
internal static class SeededChoice
{
    /// <summary>An index in [0, <paramref name="count"/>) for (seed, example, draw).</summary>
    public static int Index(long seed, long example, long draw, int count)
    {
        ulong h = Mix((ulong)seed);
        h = Mix(h ^ (ulong)example);
        h = Mix(h ^ (ulong)draw);
        return (int)(h % (ulong)count);
    }

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
