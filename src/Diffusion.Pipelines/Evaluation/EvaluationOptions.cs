using System.Globalization;
using Diffusion.Core;
using Diffusion.Core.Training;
using Diffusion.Evaluation;
using Diffusion.Samplers;

namespace Diffusion.Pipelines.Evaluation;

/// <summary>The features FID, KID and precision/recall compare.</summary>
public enum FeatureKind
{
    /// <summary>The dataset's own classifier (FID_dataset), trained once and cached; class-conditional runs only.</summary>
    Classifier,

    /// <summary>The ImageNet ResNet18 of ML.NET's DnnImageFeaturizer package, run through ONNX Runtime.</summary>
    ResNet18,

    /// <summary>pytorch-fid's FID Inception V3 (the features of published FIDs); needs <see cref="EvaluationOptions.InceptionWeights"/>.</summary>
    Inception,
}

/// <summary>
/// What <see cref="RunEvaluator.Evaluate"/> measures on a run and how it samples. Every property is validated when set
/// (a <see cref="DiffusionException"/> naming the property); combinations that depend on the run (e.g. class accuracy on
/// an unconditional run) are checked when the evaluation starts, before anything is sampled.
/// </summary>
public sealed record EvaluationOptions
{
    /// <summary>Metric names (<see cref="MetricNames"/>: fid, kid, is, pr, accuracy), case-insensitive; stored lower-case
    /// without duplicates, in the order given. FID, KID and precision/recall are reported with their floor (the same
    /// metric between N train and N test images). Default: accuracy.</summary>
    /// <exception cref="DiffusionException">Empty, or a name is unknown (the message lists the valid ones).</exception>
    public IReadOnlyList<string> Metrics
    {
        get;
        init => field = MetricNames.Parse(string.Join(',', value ?? throw new ArgumentNullException(nameof(value))));
    } = [MetricNames.Accuracy];

    /// <summary>Samples per class for class-conditional runs, in total for unconditional ones, at every guidance scale.
    /// FID, KID, IS and precision/recall need the total N ≤ the test split (10000 for MNIST). Default 100.</summary>
    /// <exception cref="DiffusionException">Outside 1 … 100000.</exception>
    public int CountPerClass
    {
        get;
        init => field = value is >= 1 and <= 100_000 ? value
            : throw new DiffusionException($"CountPerClass must be in 1 … 100000, got {value}.");
    } = 100;

    /// <summary>The classifier-free guidance scales w to evaluate, each from the same noise (1 = the conditional model,
    /// no guidance); duplicates dropped, order kept. Unconditional runs are scored once, at 1, whatever this says. Default 1, 3.</summary>
    /// <exception cref="DiffusionException">Empty, or a scale is negative or not finite.</exception>
    public IReadOnlyList<double> GuidanceScales
    {
        get;
        init
        {
            ArgumentNullException.ThrowIfNull(value);
            if (value.Count == 0) throw new DiffusionException("GuidanceScales is empty; give at least one scale ≥ 0 (1 = no guidance).");
            foreach (var w in value)
                if (!(w >= 0 && double.IsFinite(w)))
                    throw new DiffusionException(string.Create(CultureInfo.InvariantCulture, $"GuidanceScales must be finite numbers ≥ 0, got {w}."));
            field = value.Distinct().ToArray();
        }
    } = [1.0, 3.0];

    /// <summary>Guide only at noise levels σ in this range and use the conditional prediction elsewhere (Kynkäänniemi et
    /// al. 2024, e.g. (0.28, 5.42]); converted to each run's timesteps. Null (default) guides at every step. Ignored for
    /// unconditional runs.</summary>
    public SigmaInterval? GuidanceInterval { get; init; }

    /// <summary>Guidance rescale φ in [0, 1] (Lin et al. 2023, Sec. 3.4; 0.7 suggested). Default 0 (off). Ignored for
    /// unconditional runs.</summary>
    /// <exception cref="DiffusionException">Outside [0, 1].</exception>
    public double GuidanceRescale
    {
        get;
        init => field = value is >= 0 and <= 1 ? value
            : throw new DiffusionException(string.Create(CultureInfo.InvariantCulture, $"GuidanceRescale must be in [0, 1], got {value}."));
    }

    /// <summary>Sampler name, looked up in <see cref="SamplerRegistry"/> (case-insensitive). Default "ddim".</summary>
    /// <exception cref="DiffusionException">No sampler has that name (the message lists the known ones).</exception>
    public string Sampler
    {
        get;
        init => field = SamplerRegistry.Describe(value ?? throw new ArgumentNullException(nameof(value))).Name;
    } = "ddim";

    /// <summary>Sampling steps, at most the run's training timesteps (checked when the evaluation starts). Default 50.</summary>
    /// <exception cref="DiffusionException">Below 1.</exception>
    public int Steps
    {
        get;
        init => field = value >= 1 ? value : throw new DiffusionException($"Steps must be at least 1, got {value}.");
    } = 50;

    /// <summary>Seed of the initial noise; the same seed gives the same samples at every scale. Default 0.</summary>
    /// <exception cref="DiffusionException">Negative.</exception>
    public long Seed
    {
        get;
        init => field = value >= 0 ? value : throw new DiffusionException($"Seed must be ≥ 0, got {value}.");
    }

    /// <summary>Images per sampling batch; memory grows with it, the samples do not depend on it. Default 250.</summary>
    /// <exception cref="DiffusionException">Below 1.</exception>
    public int BatchSize
    {
        get;
        init => field = value >= 1 ? value : throw new DiffusionException($"BatchSize must be at least 1, got {value}.");
    } = 250;

    /// <summary>Features for FID, KID and precision/recall. Null (default): <see cref="FeatureKind.Classifier"/> for
    /// class-conditional runs, <see cref="FeatureKind.ResNet18"/> for unconditional ones.</summary>
    public FeatureKind? Features { get; init; }

    /// <summary>pytorch-fid's FID Inception weights (pt_inception-2015-12-05-6726825d.pth or a .safetensors copy), needed
    /// by <see cref="FeatureKind.Inception"/>. Default null.</summary>
    public string? InceptionWeights { get; init; }

    /// <summary>Folder holding the datasets, for the classifier and the real images. Null (default):
    /// <see cref="Core.Data.DataDirectory.Resolve"/> ($DIFFUSION_DATA, else ./data).</summary>
    public string? DataDirectory { get; init; }

    /// <summary>Where the dataset's classifier is cached (one sub-folder per dataset). Null (default):
    /// <c>&lt;run&gt;/../classifiers</c>, shared by the runs beside each other.</summary>
    public string? ClassifierDirectory { get; init; }

    /// <summary>Where features of real images are cached per (dataset, split, extractor, N). Null (default):
    /// <c>&lt;run&gt;/../references</c>.</summary>
    public string? ReferenceDirectory { get; init; }

    /// <summary>Numeric precision of the network while sampling. Default <see cref="Precision.Auto"/> (bf16 where the
    /// CPU computes it fast).</summary>
    public Precision Precision { get; init; } = Precision.Auto;

    /// <summary>The classifier cache for a run in <paramref name="runDirectory"/>: <see cref="ClassifierDirectory"/> or its default.</summary>
    public string ClassifierDirectoryFor(string runDirectory) => ClassifierDirectory ?? BesideRun(runDirectory, "classifiers");

    /// <summary>The real-feature cache for a run in <paramref name="runDirectory"/>: <see cref="ReferenceDirectory"/> or its default.</summary>
    public string ReferenceDirectoryFor(string runDirectory) => ReferenceDirectory ?? BesideRun(runDirectory, "references");

    private static string BesideRun(string runDirectory, string name)
        => Path.Combine(Path.GetDirectoryName(Path.GetFullPath(runDirectory).TrimEnd(Path.DirectorySeparatorChar)) ?? ".", name);
}
