using Diffusion.Core;
using Diffusion.Core.Training;
using Diffusion.Samplers;

namespace Diffusion.Benchmarks.Quality;

/// <summary>What the sweep measures and where it writes, parsed from "--name value" pairs.</summary>
internal sealed record SweepOptions
{
    /// <summary>A run folder written by 'diffusion train'.</summary>
    public required string Run { get; init; }

    /// <summary>Images per setting; also the size of the real reference sets (test and train subsets). At most 10,000.</summary>
    public int Count { get; init; } = 1000;

    /// <summary>Classifier-free guidance scale (1 = plain conditional; above 1 the cond and uncond passes are one batched call).</summary>
    public double Guidance { get; init; } = 3;

    /// <summary>Samplers swept at every NFE up to <see cref="ReferenceAbove"/>.</summary>
    public IReadOnlyList<string> Samplers { get; init; } = SamplerRegistry.All.Select(s => s.Name).ToArray();

    /// <summary>Target network-evaluation counts per image.</summary>
    public IReadOnlyList<int> Nfe { get; init; } = [5, 10, 20, 50, 100, 1000];

    /// <summary>The only samplers run at NFE above <see cref="ReferenceAbove"/> (one sampler at 1000 NFE costs two thirds of
    /// all eight at 5 … 100 NFE together): ancestral DDPM, the sampler the model was trained for, and DDIM, the
    /// probability-flow ODE that Euler, Heun, DPM-Solver++ and UniPC also solve.</summary>
    public IReadOnlyList<string> ReferenceSamplers { get; init; } = ["ddpm", "ddim"];

    /// <summary>NFE settings above this run only the <see cref="ReferenceSamplers"/>.</summary>
    public int ReferenceAbove { get; init; } = 100;

    /// <summary>Seed of the initial noise (the same for every sampler) and of the real subsets.</summary>
    public long Seed { get; init; }

    /// <summary>Output folder; null: benchmarks/results/quality-&lt;run&gt;-&lt;UTC time&gt;.</summary>
    public string? Out { get; init; }

    /// <summary>Dataset folder; null: $DIFFUSION_DATA, else ./data.</summary>
    public string? DataDir { get; init; }

    /// <summary>Classifier cache; null: &lt;run&gt;/../classifiers, as 'diffusion eval' uses.</summary>
    public string? ClassifierDir { get; init; }

    /// <summary>Epochs when the classifier has to be trained; null: the library default. A classifier trained with other
    /// options than the cached one replaces it, so leave this unset outside smoke tests.</summary>
    public int? ClassifierEpochs { get; init; }

    /// <summary>Network precision for sampling; null: what <c>DiffusionPipeline.Load</c> picks by default (Auto).</summary>
    public Precision? Precision { get; init; }

    /// <summary>TorchSharp CPU threads.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Images per sampling batch (twice that many rows go through the network with guidance).</summary>
    public int BatchSize { get; init; } = 250;

    public const string Help = """
        Usage: dotnet run -c Release --project benchmarks/Diffusion.Benchmarks.Quality -- --run DIR [options]

        FID (against the test set, features of the project's classifier) and class accuracy for each sampler at each
        NFE (network evaluations per image; a guided evaluation is one batched call). Every sampler starts from the same
        noise. Writes quality.json, fid-vs-nfe.png and accuracy-vs-nfe.png; progress goes to stderr.

        Options:
          --run DIR                 Run folder written by 'diffusion train' (required).
          --count N                 Images per setting and per real reference set, 2 … 10000. [default: 1000]
          --guidance G              Classifier-free guidance scale. [default: 3]
          --samplers a,b|all        Samplers to sweep. [default: all]
          --nfe 5,10,...            Target NFE per image. [default: 5,10,20,50,100,1000]
          --reference-samplers a,b  The only samplers run above --reference-above. [default: ddpm,ddim]
          --reference-above N       NFE above this run only the reference samplers. [default: 100]
          --seed S                  Seed of the noise and the real subsets. [default: 0]
          --out DIR                 Output folder. [default: benchmarks/results/quality-<run>-<time>]
          --data-dir DIR            Datasets (else $DIFFUSION_DATA, else ./data).
          --classifier-dir DIR      Classifier cache. [default: <run>/../classifiers]
          --classifier-epochs N     Epochs if the classifier must be trained (smoke tests only; a cached classifier
                                    trained with other options is replaced). [default: the library's]
          --precision bf16|fp32     Network precision. [default: as 'diffusion sample']
          --threads N               CPU threads. [default: all cores]
          --batch N                 Images per sampling batch. [default: 250]
        """;

    /// <summary>Parses the command line.</summary>
    /// <exception cref="DiffusionException">An option is unknown, lacks its value, or has an invalid one.</exception>
    public static SweepOptions Parse(IReadOnlyList<string> args)
    {
        var values = new OptionValues(args, Known);
        if (!values.TryGet("run", out var run)) throw new DiffusionException("--run DIR is required: the folder 'diffusion train' wrote.");
        var o = new SweepOptions { Run = run };
        if (values.TryGet("count", out var v)) o = o with { Count = OptionValues.Int("count", v, 2, 10_000) };
        if (values.TryGet("guidance", out v)) o = o with { Guidance = OptionValues.Number("guidance", v, 0, 100) };
        if (values.TryGet("samplers", out v)) o = o with { Samplers = SamplerList("samplers", v) };
        if (values.TryGet("nfe", out v)) o = o with { Nfe = OptionValues.List(v).Select(s => OptionValues.Int("nfe", s, 1, 100_000)).Distinct().Order().ToArray() };
        if (values.TryGet("reference-samplers", out v)) o = o with { ReferenceSamplers = SamplerList("reference-samplers", v) };
        if (values.TryGet("reference-above", out v)) o = o with { ReferenceAbove = OptionValues.Int("reference-above", v, 0, int.MaxValue) };
        if (values.TryGet("seed", out v)) o = o with { Seed = OptionValues.Int("seed", v, 0, int.MaxValue) };
        if (values.TryGet("out", out v)) o = o with { Out = v };
        if (values.TryGet("data-dir", out v)) o = o with { DataDir = v };
        if (values.TryGet("classifier-dir", out v)) o = o with { ClassifierDir = v };
        if (values.TryGet("classifier-epochs", out v)) o = o with { ClassifierEpochs = OptionValues.Int("classifier-epochs", v, 1, 1000) };
        if (values.TryGet("threads", out v)) o = o with { Threads = OptionValues.Int("threads", v, 1, 256) };
        if (values.TryGet("batch", out v)) o = o with { BatchSize = OptionValues.Int("batch", v, 1, 100_000) };
        if (values.TryGet("precision", out v))
            o = o with
            {
                Precision = v.ToLowerInvariant() switch
                {
                    "bf16" or "bfloat16" => Core.Training.Precision.BFloat16,
                    "fp32" or "float32" => Core.Training.Precision.Float32,
                    _ => throw new DiffusionException($"Unknown precision '{v}'. Valid: bf16, fp32."),
                },
            };
        if (o.Nfe.Count == 0) throw new DiffusionException("--nfe needs at least one value.");
        return o;
    }

    private static readonly HashSet<string> Known =
        ["run", "count", "guidance", "samplers", "nfe", "reference-samplers", "reference-above", "seed", "out", "data-dir", "classifier-dir", "classifier-epochs", "precision", "threads", "batch"];

    // Registry names (validated, canonical spelling), "all" for every registered sampler.
    private static string[] SamplerList(string option, string value)
    {
        if (value.Trim().Equals("all", StringComparison.OrdinalIgnoreCase)) return SamplerRegistry.All.Select(s => s.Name).ToArray();
        var names = OptionValues.List(value).Select(n => SamplerRegistry.Describe(n).Name).Distinct().ToArray();
        return names.Length > 0 ? names : throw new DiffusionException($"--{option} needs at least one sampler name ({SamplerRegistry.KnownNames}).");
    }
}
