using System.Globalization;
using System.Text.Json;
using Diffusion.Core;
using Diffusion.Core.Data;
using Diffusion.Core.Imaging;
using Diffusion.Core.Training;
using Diffusion.Evaluation;
using Diffusion.Models;
using Diffusion.Pipelines;
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
    };

    public static int Train(Args a, CancellationToken ct)
    {
        var options = Presets.Get(a.RequiredString("preset"));
        var outDir = a.String("out") is { } o && o != "runs/<preset>" ? o : Path.Combine("runs", options.Preset);
        bool resuming = File.Exists(Path.Combine(outDir, RunOptions.FileName));
        if (resuming)
        {
            var saved = RunOptions.Load(outDir);
            Console.WriteLine($"Resuming run in {outDir} (preset {saved.Preset}).");
            options = saved;
        }
        var t = options.Training;
        if (a.Double("minutes", 0.01, 1e6) is double minutes) t = t with { MaxMinutes = minutes, MaxSteps = a.Int("steps", 1) };
        else if (a.Int("steps", 1) is int steps) t = t with { MaxSteps = steps, MaxMinutes = null };
        if (a.Int("batch", 1, 65536) is int b) t = t with { BatchSize = b };
        if (a.Double("lr", 1e-7, 1) is double lr) t = t with { LearningRate = lr };
        if (a.Double("label-dropout", 0, 1) is double dropout) t = t with { LabelDropout = dropout };
        t = t with { Seed = a.Int("seed", 0)!.Value, Precision = ParsePrecision(a.String("precision")) };
        options = options with { Training = t };
        bool otherData = a.String("dataset") is not null && !resuming;
        if (otherData) options = options with { Dataset = a.String("dataset")! };
        if (ParseSchedule(a.String("schedule")) is { } kind)
        {
            if (resuming && kind != options.Schedule.Kind)
                throw new DiffusionException($"{outDir} was trained with the {OptionName(options.Schedule.Kind)} schedule; a run can't change schedule when it resumes. Use a new --out folder.");
            options = options with { Schedule = options.Schedule with { Kind = kind } };
        }
        if (ParsePrediction(a.String("prediction")) is { } prediction)
        {
            if (resuming && prediction != options.Model.Prediction)
                throw new DiffusionException($"{outDir} was trained to predict {OptionName(options.Model.Prediction)}; a run can't change what it predicts when it resumes. Use a new --out folder.");
            options = options with { Model = options.Model with { Prediction = prediction } };
        }
        set_num_threads(a.Int("threads", 1, 256)!.Value);

        var dataDir = DataDirectory.Resolve(a.String("data-dir"));
        Console.WriteLine($"Loading {options.Dataset} from {dataDir} ...");
        using var data = options.LoadData(dataDir, DatasetSplit.Train, new Progress<string>(Console.WriteLine), ct);
        if (otherData) options = options with { Model = options.Model with { NumClasses = data.Classes.Count > 1 ? data.Classes.Count : null } };
        if (options.Model.NumClasses is int classes && classes != data.Classes.Count)
            throw new DiffusionException($"The preset's network has {classes} classes but {options.Dataset} has {data.Classes.Count}; pick a dataset with {classes} classes or an unconditional preset.");
        Console.WriteLine($"{data.Count:N0} images, {data.Size}x{data.Size}x{data.Channels}, {data.Classes.Count} class(es).");
        Directory.CreateDirectory(outDir);
        OptionsJson.Save(options, Path.Combine(outDir, RunOptions.FileName));

        manual_seed(t.Seed);
        using var network = new UNet(options.Model);
        Console.WriteLine($"UNet: {network.ParameterCount:N0} parameters; training {Budget(t)} in {t.Precision.Resolve()}, batch {t.BatchSize}, {get_num_threads()} threads.");
        var conditioner = options.Model.NumClasses is int k ? new Core.Conditioning.ClassConditioner(k, data.Classes) : null;
        using var trainer = new Trainer(network, new Core.Schedules.NoiseSchedule(options.Schedule), conditioner, data, t, outDir);
        if (trainer.Step > 0) Console.WriteLine($"Continuing from step {trainer.Step}.");
        var progress = new ConsoleProgress();
        var result = trainer.Run(progress, step => Preview(options, trainer, outDir, step), ct);
        progress.Finish();
        WriteLossCurve(outDir);
        OptionsJson.Save(result, Path.Combine(outDir, "train-result.json"));
        Console.WriteLine(result.Cancelled
            ? $"Stopped at step {result.Steps}; checkpoint saved. Run the same command again to resume."
            : $"Done: {result.Steps} steps in {result.Elapsed:h\\:mm\\:ss}, final loss {result.FinalLoss:F4}, {result.ImagesPerSecond:F0} img/s, peak memory {result.PeakWorkingSetBytes / 1048576} MB.");
        Console.WriteLine($"Run folder: {Path.GetFullPath(outDir)}");
        return result.Cancelled ? 130 : 0;
    }

    public static int Sample(Args a, CancellationToken ct)
    {
        var run = a.RequiredString("run");
        using var model = TrainedModel.Load(run, ParsePrecision(a.String("precision")));
        var sampler = SamplerRegistry.Create(a.RequiredString("sampler"));
        int steps = a.Int("steps", 1, model.Schedule.TrainSteps)!.Value;
        int count = a.Int("count", 1, 100_000)!.Value;
        double guidance = a.Double("guidance", 0, 100)!.Value;
        long seed = a.Int("seed", 0)!.Value;
        var (labels, columns) = Labels(model, a.Int("class"), ref count);
        var guidanceOptions = GuidanceOptionsFrom(a, model);   // validated first: a bad value is one error, not a warning too
        if (model.Conditioner is null) WarnGuidanceIgnored(a, "guidance", "guidance-interval", "guidance-rescale");

        using var recorder = a.String("gif") is null ? null : new TrajectoryRecorder(every: Math.Max(1, steps / 25), maxImages: Math.Min(count, 100));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var images = model.Sample(sampler, labels, count, steps, guidance, seed, onStep: recorder is null ? null : recorder.Record, ct: ct,
            guidanceOptions: guidanceOptions);
        var outPath = a.String("out") is { } o && o != "<run>/samples/grid.png" ? o : Path.Combine(run, "samples", "grid.png");
        ImageGrid.SavePng(images, outPath, columns, scale: 2);
        Console.WriteLine($"Sampled {count} images with {sampler.Name}, {steps} steps, {(model.Conditioner is null ? "unconditional" : $"guidance {guidance}")} in {clock.Elapsed.TotalSeconds:F1} s -> {outPath}");
        if (recorder is not null)
        {
            recorder.SaveGif(a.String("gif")!, Math.Min(columns, 10), scale: 2);
            Console.WriteLine($"Denoising GIF -> {a.String("gif")}");
        }
        if (a.String("png-dir") is { } dir)
        {
            ImageFiles.SavePngs(images, dir, labels);
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

    private static (IReadOnlyList<int>? Labels, int Columns) Labels(TrainedModel model, int? cls, ref int count)
    {
        if (model.Conditioner is not { } c)
        {
            if (cls is not null) throw new DiffusionException("This model is unconditional; drop --class.");
            return (null, (int)Math.Ceiling(Math.Sqrt(count)));
        }
        if (cls is int only)
        {
            c.Encode(new[] { only }, CPU); // validates the class with a message listing the valid ones
            return (Enumerable.Repeat(only, count).ToArray(), (int)Math.Ceiling(Math.Sqrt(count)));
        }
        int perRow = Math.Max(1, count / c.Classes);
        count = perRow * c.Classes;
        return (Enumerable.Range(0, count).Select(i => i / perRow).ToArray(), perRow);
    }

    private static void Preview(RunOptions options, Trainer trainer, string outDir, int step)
    {
        using var scope = NewDisposeScope();
        using var network = new UNet(options.Model);
        Core.StateDicts.CopyInto(network, trainer.EmaWeights, "EMA weights");
        using var model = TrainedModel.FromNetwork(options, network, Precision.Auto);
        int count = model.Conditioner is null ? 64 : model.Conditioner.Classes * 10;
        var (labels, columns) = Labels(model, null, ref count);
        var images = model.Sample(SamplerRegistry.Create(options.PreviewSampler), labels, count, options.PreviewSteps, options.PreviewGuidance, seed: 0);
        ImageGrid.SavePng(images, Path.Combine(outDir, "samples", $"step-{step:D6}.png"), columns, scale: 2);
    }

    private static void WriteLossCurve(string outDir)
    {
        var path = Path.Combine(outDir, "metrics.jsonl");
        if (!File.Exists(path)) return;
        var points = File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement)
            .Select(e => (Step: e.GetProperty("step").GetDouble(), Loss: e.GetProperty("loss").GetDouble())).ToList();
        if (points.Count < 2) return;
        LinePlot.SavePng(points.Select(p => p.Step).ToArray(), points.Select(p => p.Loss).ToArray(), Path.Combine(outDir, "loss.png"),
            new LinePlotOptions { Title = "training loss", LogY = true, Smoothing = 0.6 });
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
    private static GuidanceOptions? GuidanceOptionsFrom(Args a, TrainedModel model)
    {
        double rescale = a.Double("guidance-rescale", 0, 1) ?? 0;
        TimestepInterval? interval = null;
        if (a.String("guidance-interval") is { } text)
        {
            var parts = text.Split(',', StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || !double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double low)
                || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double high) || !(low >= 0 && high > low))
                throw new DiffusionException($"--guidance-interval takes two noise levels 'LOW,HIGH' with 0 <= LOW < HIGH, e.g. 0.28,5.42; got '{text}'.");
            interval = TimestepInterval.FromSigma(model.Schedule, low, high);
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

    /// <summary>The names --prediction and --schedule accept, for messages and reports.</summary>
    private static string OptionName(Prediction p) => p switch { Prediction.Epsilon => "eps", Prediction.V => "v", _ => "x0" };

    private static string OptionName(Core.Schedules.BetaSchedule kind) => kind.ToString().ToLowerInvariant();

    private static Precision ParsePrecision(string? s) => s?.ToLowerInvariant() switch
    {
        null or "auto" => Precision.Auto,
        "bf16" or "bfloat16" => Precision.BFloat16,
        "fp32" or "float32" => Precision.Float32,
        _ => throw new DiffusionException($"Unknown precision '{s}'. Valid: auto, bf16, fp32."),
    };

    private static string Budget(TrainingOptions t)
        => t.MaxSteps is int s ? $"{s} steps" + (t.MaxMinutes is double m0 ? $" or {m0} min" : "") : $"{t.MaxMinutes} min";
}
