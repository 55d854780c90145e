using Diffusion.Core;
using Diffusion.Samplers;

namespace Diffusion.Benchmarks.Guidance;

/// <summary>What the guidance study samples and where it writes, parsed from "--name value" pairs.</summary>
internal sealed record StudyOptions
{
    /// <summary>A class-conditional run folder written by 'diffusion train'.</summary>
    public required string Run { get; init; }

    /// <summary>Samples per class and setting; classes × this is also the size of the real reference sets.</summary>
    public int PerClass { get; init; } = 50;

    /// <summary>Plain classifier-free guidance scales.</summary>
    public IReadOnlyList<double> Scales { get; init; } = [0, 1, 2, 3, 5, 7];

    /// <summary>Scales at which the interval and the rescale variants run as well.</summary>
    public IReadOnlyList<double> VariantScales { get; init; } = [3, 7];

    /// <summary>Noise range (σ = √((1 − ᾱ)/ᾱ)) in which the interval variant guides; outside it the conditional
    /// prediction is used. Default (0.28, 5.42]: Kynkäänniemi et al. 2024's interval for SD-XL.</summary>
    public (double Low, double High) IntervalSigma { get; init; } = (0.28, 5.42);

    /// <summary>Plain scales whose samples join the real images in one t-SNE of the classifier features (one plot each).</summary>
    public IReadOnlyList<double> TsneScales { get; init; } = [1, 3];

    /// <summary>φ of the rescale variant (Lin et al. 2023 suggest 0.7).</summary>
    public double Rescale { get; init; } = 0.7;

    /// <summary>Sampler name.</summary>
    public string Sampler { get; init; } = "ddim";

    /// <summary>Sampling steps.</summary>
    public int Steps { get; init; } = 50;

    /// <summary>Seed of the initial noise (the same for every setting) and of the t-SNE; the real images are fixed subsets.</summary>
    public long Seed { get; init; }

    /// <summary>Output folder; null: benchmarks/results/guidance-&lt;run&gt;-&lt;UTC time&gt;.</summary>
    public string? Out { get; init; }

    /// <summary>Dataset folder; null: $DIFFUSION_DATA, else ./data.</summary>
    public string? DataDir { get; init; }

    /// <summary>Classifier cache; null: &lt;run&gt;/../classifiers, as 'diffusion eval' uses.</summary>
    public string? ClassifierDir { get; init; }

    /// <summary>Cache of real-image features; null: &lt;run&gt;/../references, as 'diffusion eval' uses.</summary>
    public string? ReferenceDir { get; init; }

    /// <summary>TorchSharp CPU threads.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Images per sampling batch.</summary>
    public int BatchSize { get; init; } = 250;

    public const string Help = """
        Usage: dotnet run -c Release --project benchmarks/Diffusion.Benchmarks.Guidance -- --run DIR [options]

        Classifier-free guidance study on a class-conditional run: for each plain scale, and for a guidance interval and
        guidance rescale at the variant scales, samples the same noise and reports class accuracy, FID and
        precision/recall (with floors: the same metric between real train and test images) and intra-class diversity
        (mean pairwise feature distance within a class; real images give the reference). Writes guidance.json,
        guidance.md, guidance-grid.png (rows = settings, columns = classes), guidance-accuracy.png, guidance-fid.png and
        tsne-*.png (one t-SNE of the classifier features of real images and samples, one plot per set).

        Options:
          --run DIR                 Class-conditional run folder written by 'diffusion train' (required).
          --count N                 Samples per class and setting. [default: 50]
          --scales a,b,...          Plain guidance scales. [default: 0,1,2,3,5,7]
          --variant-scales a,b,...  Scales for the interval and rescale variants ('none' to skip them). [default: 3,7]
          --interval-sigma lo,hi    Noise range (sigma) of the guidance interval. [default: 0.28,5.42]
          --tsne-scales a,b|none    Plain scales shown in the t-SNE plots next to real images. [default: 1,3]
          --rescale PHI             Guidance rescale factor in (0, 1]. [default: 0.7]
          --sampler NAME            Sampler. [default: ddim]
          --steps N                 Sampling steps. [default: 50]
          --seed S                  Seed of the noise (and the t-SNE); the real subsets stay fixed. [default: 0]
          --out DIR                 Output folder. [default: benchmarks/results/guidance-<run>-<time>]
          --data-dir DIR            Datasets (else $DIFFUSION_DATA, else ./data).
          --classifier-dir DIR      Classifier cache. [default: <run>/../classifiers]
          --reference-dir DIR       Real-feature cache. [default: <run>/../references]
          --threads N               CPU threads. [default: all cores]
          --batch N                 Images per sampling batch. [default: 250]
        """;

    /// <summary>Parses the command line.</summary>
    /// <exception cref="DiffusionException">An option is unknown, lacks its value, or has an invalid one.</exception>
    public static StudyOptions Parse(IReadOnlyList<string> args)
    {
        var values = new OptionValues(args, Known);
        if (!values.TryGet("run", out var run)) throw new DiffusionException("--run DIR is required: the folder 'diffusion train' wrote.");
        var o = new StudyOptions { Run = run };
        if (values.TryGet("count", out var v)) o = o with { PerClass = OptionValues.Int("count", v, 2, 10_000) };
        if (values.TryGet("scales", out v)) o = o with { Scales = OptionValues.Numbers("scales", v, 0, 100) };
        if (values.TryGet("variant-scales", out v)) o = o with { VariantScales = NoneOr("variant-scales", v) };
        if (values.TryGet("tsne-scales", out v)) o = o with { TsneScales = NoneOr("tsne-scales", v) };
        if (values.TryGet("interval-sigma", out v))
        {
            var pair = OptionValues.Numbers("interval-sigma", v, 0, 1e6);
            if (pair.Length != 2 || pair[0] >= pair[1]) throw new DiffusionException($"--interval-sigma takes two increasing numbers 'low,high', got '{v}'.");
            o = o with { IntervalSigma = (pair[0], pair[1]) };
        }
        if (values.TryGet("rescale", out v)) o = o with { Rescale = OptionValues.Number("rescale", v, 1e-6, 1) };
        if (values.TryGet("sampler", out v)) o = o with { Sampler = SamplerRegistry.Describe(v).Name };
        if (values.TryGet("steps", out v)) o = o with { Steps = OptionValues.Int("steps", v, 1, 100_000) };
        if (values.TryGet("seed", out v)) o = o with { Seed = OptionValues.Int("seed", v, 0, int.MaxValue) };
        if (values.TryGet("out", out v)) o = o with { Out = v };
        if (values.TryGet("data-dir", out v)) o = o with { DataDir = v };
        if (values.TryGet("classifier-dir", out v)) o = o with { ClassifierDir = v };
        if (values.TryGet("reference-dir", out v)) o = o with { ReferenceDir = v };
        if (values.TryGet("threads", out v)) o = o with { Threads = OptionValues.Int("threads", v, 1, 256) };
        if (values.TryGet("batch", out v)) o = o with { BatchSize = OptionValues.Int("batch", v, 1, 100_000) };
        if (o.Scales.Count == 0) throw new DiffusionException("--scales needs at least one value.");
        return o;
    }

    // "none" or comma-separated scales.
    private static double[] NoneOr(string option, string value)
        => value.Trim().Equals("none", StringComparison.OrdinalIgnoreCase) ? [] : OptionValues.Numbers(option, value, 0, 100);

    private static readonly HashSet<string> Known =
        ["run", "count", "scales", "variant-scales", "tsne-scales", "interval-sigma", "rescale", "sampler", "steps", "seed", "out", "data-dir", "classifier-dir", "reference-dir", "threads", "batch"];
}
