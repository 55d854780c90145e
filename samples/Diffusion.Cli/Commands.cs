using System.Globalization;
using System.Text.Json;
using Diffusion.Core;
using Diffusion.Core.Data;
using Diffusion.Core.Imaging;
using Diffusion.Core.Training;
using Diffusion.Evaluation;
using Diffusion.Models;
using Diffusion.Pipelines;
using Diffusion.Pipelines.Training;
using Diffusion.Samplers;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Cli;

/// <summary>The CLI's commands. Each parses its options, does one job, and writes what it made into a folder.</summary>
internal static partial class Commands
{
    public static readonly OptionSpec[] TrainOptions =
    {
        new("preset", "Starting configuration: " + string.Join(", ", Presets.Names) + ".", "mnist"),
        new("minutes", "Training time budget in minutes (overrides the preset)."),
        new("steps", "Training step budget (overrides the preset)."),
        new("out", "Run folder; an existing run folder is resumed.", "runs/<preset>"),
        new("data-dir", "Folder holding the datasets (else $DIFFUSION_DATA, else ./data)."),
        new("dataset", "Train on another dataset than the preset's: " + string.Join(", ", Datasets.Names) + " or folder:<path> (one sub-folder per class, or a flat folder; resized and centre-cropped to the preset's size). The network's classes follow the data."),
        new("batch", "Batch size (overrides the preset)."),
        new("lr", "Peak learning rate (overrides the preset)."),
        new("label-dropout", "Share of labels replaced by the null class during training, so classifier-free guidance has an unconditional model (overrides the preset's 0.1)."),
        new("schedule", "Noise schedule of a new run: linear (Ho et al. 2020), cosine (Nichol & Dhariwal 2021) or sigmoid (overrides the preset's linear; a resumed run keeps its own)."),
        new("prediction", "What the network of a new run predicts: eps (the noise, Ho et al. 2020), v (velocity, Salimans & Ho 2022) or x0 (overrides the preset's: v for faces and faces32, eps for the others; a resumed run keeps its own)."),
        new("seed", "Random seed.", "0"),
        new("precision", "auto (bf16 where the CPU has bf16 instructions, else fp32), bf16 (mixed precision) or fp32.", "auto"),
        new("threads", "CPU threads for TorchSharp.", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)),
        new("device", "auto (CUDA when present), cpu, cuda or cuda:N.", "auto"),
        new("from", "Resume from the latest checkpoint or the previous one (when the latest is corrupted): latest or previous.", "latest"),
    };

    public static readonly OptionSpec[] SampleOptions =
    {
        new("run", "Run folder written by 'train'."),
        new("class", "Class to draw (e.g. 7); omit for one row per class."),
        new("count", "Number of images.", "100"),
        new("guidance", "Classifier-free guidance scale (0 = unconditional, 1 = plain conditional).", "3"),
        new("guidance-interval", "Guide only for noise levels sigma in (LOW, HIGH], e.g. 0.28,5.42 (Kynkäänniemi et al. 2024); the conditional prediction elsewhere."),
        new("guidance-rescale", "Guidance rescale phi in [0, 1] (Lin et al. 2023; 0.7 suggested).", "0"),
        new("sampler", "Sampler name (see 'diffusion samplers').", "ddim"),
        new("steps", "Sampling steps.", "50"),
        new("seed", "Random seed; the same seed gives the same images.", "0"),
        new("out", "Grid PNG to write.", "<run>/samples/grid.png"),
        new("gif", "Also write an animated GIF of the denoising trajectory."),
        new("png-dir", "Also write one PNG per image plus labels.csv into this folder."),
        new("precision", "auto, bf16 or fp32 for the network.", "auto"),
        new("device", "auto (CUDA when present), cpu, cuda or cuda:N.", "auto"),
        new("init", "Start from this picture (image-to-image; PNG, JPEG, ...), of the model's image size."),
        new("strength", "With --init: the fraction of the schedule to run, in (0, 1]; small values change the picture little.", "1"),
    };

    public static int Train(Args a, CancellationToken ct)
    {
        var request = new TrainRunOptions
        {
            Preset = a.RequiredString("preset"),
            OutputDirectory = a.String("out") is { } o && o != "runs/<preset>" ? o : null,
            Minutes = a.Double("minutes", 0.01, 1e6),
            Steps = a.Int("steps", 1),
            BatchSize = a.Int("batch", 1, 65536),
            LearningRate = a.Double("lr", 1e-7, 1),
            LabelDropout = a.Double("label-dropout", 0, 1),
            Schedule = ParseSchedule(a.String("schedule")),
            Prediction = ParsePrediction(a.String("prediction")),
            Dataset = a.String("dataset"),
            DataDirectory = a.String("data-dir"),
            Seed = a.Int("seed", 0)!.Value,
            Precision = ParsePrecision(a.String("precision")),
            Device = a.String("device") ?? "auto",
            ResumeFrom = a.String("from")?.ToLowerInvariant() switch
            {
                null or "latest" => ResumePoint.Latest,
                "previous" => ResumePoint.Previous,
                var other => throw new DiffusionException($"Unknown --from '{other}'. Valid: latest, previous."),
            },
        };
        set_num_threads(a.Int("threads", 1, 256)!.Value);
        var progress = new ConsoleProgress();
        var run = RunTrainer.Run(request, new Inline<string>(Console.WriteLine), progress, ct);
        progress.Finish();
        var result = run.Training;
        Console.WriteLine(result.Cancelled
            ? $"Stopped at step {result.Steps}; checkpoint saved. Run the same command again to resume."
            : $"Done: {result.Steps} steps in {result.Elapsed:h\\:mm\\:ss}, final loss {result.FinalLoss:F4}, {result.ImagesPerSecond:F0} img/s, peak memory {result.PeakWorkingSetBytes / 1048576} MB.");
        Console.WriteLine($"Run folder: {Path.GetFullPath(run.RunDirectory)}  Model: {Path.GetFullPath(run.ModelDirectory)}");
        return result.Cancelled ? 130 : 0;
    }

    public static int Sample(Args a, CancellationToken ct)
    {
        var run = a.RequiredString("run");
        using var pipe = DiffusionPipeline.Load(run, a.String("device") ?? "auto", ParsePrecision(a.String("precision")));
        var sampler = SamplerRegistry.Create(a.RequiredString("sampler"));
        int steps = a.Int("steps", 1, pipe.Components.Scheduler.TrainSteps)!.Value;
        int count = a.Int("count", 1, 100_000)!.Value;
        double guidance = a.Double("guidance", 0, 100)!.Value;
        long seed = a.Int("seed", 0)!.Value;
        var (labels, columns) = Labels(pipe.ClassNames, a.Int("class"), ref count);
        var guidanceOptions = GuidanceOptionsFrom(a, pipe.Components.Scheduler);   // validated first: a bad value is one error, not a warning too
        if (pipe.ClassNames is null) WarnGuidanceIgnored(a, "guidance", "guidance-interval", "guidance-rescale");
        double strength = a.Double("strength", 1e-6, 1) ?? 1;
        if (a.Given("strength") && a.String("init") is null) throw new DiffusionException("--strength needs --init IMAGE to start from.");
        using var init = a.String("init") is { } initPath ? ImageTensors.Load(initPath) : null;

        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var result = pipe.Generate(new GenerationRequest
        {
            Count = count, Classes = labels, SamplerInstance = sampler, Steps = steps, GuidanceScale = guidance, Guidance = guidanceOptions, Seed = seed,
            InitImage = init, Strength = init is null ? 1 : strength,
            TrajectoryEvery = a.String("gif") is null ? null : Math.Max(1, steps / 25), TrajectoryImages = Math.Min(count, 100),
        }, cancellationToken: ct);
        var outPath = a.String("out") is { } o && o != "<run>/samples/grid.png" ? o : Path.Combine(run, "samples", "grid.png");
        result.SaveGrid(outPath, columns, scale: 2);
        Console.WriteLine($"Sampled {count} images with {sampler.Name}, {steps} steps, {(pipe.ClassNames is null ? "unconditional" : $"guidance {guidance}")}{(init is null ? "" : $", from {a.String("init")} at strength {strength}")} in {clock.Elapsed.TotalSeconds:F1} s -> {outPath}");
        if (a.String("gif") is { } gif)
        {
            result.SaveGif(gif, Math.Min(columns, 10), scale: 2);
            Console.WriteLine($"Denoising GIF -> {gif}");
        }
        if (a.String("png-dir") is { } dir)
        {
            result.SavePngs(dir);
            Console.WriteLine($"{count} PNGs and labels.csv -> {dir}");
        }
        return 0;
    }

    public static int ListSamplers()
    {
        int w = SamplerRegistry.All.Max(s => s.Name.Length) + 2;
        foreach (var s in SamplerRegistry.All)
            Console.WriteLine($"{s.Name.PadRight(w)}{s.Description} (recommended steps: {s.RecommendedSteps})");
        return 0;
    }

    private static (IReadOnlyList<int>? Labels, int Columns) Labels(IReadOnlyList<string>? classNames, int? cls, ref int count)
    {
        if (classNames is null)
        {
            if (cls is not null) throw new DiffusionException("This model is unconditional; drop --class.");
            return (null, (int)Math.Ceiling(Math.Sqrt(count)));
        }
        if (cls is int only)
        {
            if (only < 0 || only >= classNames.Count)
                throw new DiffusionException($"Class {only} is out of range: this model knows classes 0 to {classNames.Count - 1} ({string.Join(", ", classNames)}).");
            return (Enumerable.Repeat(only, count).ToArray(), (int)Math.Ceiling(Math.Sqrt(count)));
        }
        int perRow = Math.Max(1, count / classNames.Count);
        count = perRow * classNames.Count;
        return (Enumerable.Range(0, count).Select(i => i / perRow).ToArray(), perRow);
    }

    /// <summary>
    /// Guidance needs classes. For an unconditional run, names on stderr those of <paramref name="options"/> that the user
    /// wrote (their defaults are no request): they do not apply.
    /// </summary>
    private static void WarnGuidanceIgnored(Args a, params string[] options)
    {
        var given = options.Where(a.Given).Select(n => "--" + n).ToList();
        if (given.Count == 0) return;
        string names = given.Count == 1 ? given[0] : string.Join(", ", given[..^1]) + " and " + given[^1];
        Console.Error.WriteLine($"Unconditional run: {names} {(given.Count == 1 ? "does" : "do")} not apply and {(given.Count == 1 ? "is" : "are")} ignored.");
    }

    /// <summary>--guidance-interval (sigma range, converted to the run's timesteps) and --guidance-rescale; null when neither is set.</summary>
    private static GuidanceOptions? GuidanceOptionsFrom(Args a, INoiseScheduler schedule)
    {
        double rescale = a.Double("guidance-rescale", 0, 1) ?? 0;
        TimestepInterval? interval = null;
        if (a.String("guidance-interval") is { } text)
        {
            var parts = text.Split(',', StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || !double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double low)
                || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double high) || !(low >= 0 && high > low))
                throw new DiffusionException($"--guidance-interval takes two noise levels 'LOW,HIGH' with 0 <= LOW < HIGH, e.g. 0.28,5.42; got '{text}'.");
            interval = TimestepInterval.FromSigma(schedule, low, high);
        }
        return interval is null && rescale == 0 ? null : new GuidanceOptions { Interval = interval, Rescale = rescale };
    }

    private static Core.Schedules.BetaSchedule? ParseSchedule(string? s) => s?.ToLowerInvariant() switch
    {
        null => null,
        "linear" => Core.Schedules.BetaSchedule.Linear,
        "cosine" => Core.Schedules.BetaSchedule.Cosine,
        "sigmoid" => Core.Schedules.BetaSchedule.Sigmoid,
        _ => throw new DiffusionException($"Unknown schedule '{s}'. Valid: linear, cosine, sigmoid."),
    };

    private static Prediction? ParsePrediction(string? s) => s?.ToLowerInvariant() switch
    {
        null => null,
        "eps" or "epsilon" => Prediction.Epsilon,
        "v" => Prediction.V,
        "x0" or "sample" => Prediction.Sample,
        _ => throw new DiffusionException($"Unknown prediction '{s}'. Valid: eps, v, x0."),
    };

    /// <summary>Forwards reports synchronously (unlike <see cref="Progress{T}"/>, which posts to the thread pool).</summary>
    private sealed class Inline<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    private static Precision ParsePrecision(string? s) => s?.ToLowerInvariant() switch
    {
        null or "auto" => Precision.Auto,
        "bf16" or "bfloat16" => Precision.BFloat16,
        "fp32" or "float32" => Precision.Float32,
        _ => throw new DiffusionException($"Unknown precision '{s}'. Valid: auto, bf16, fp32."),
    };

}
