using System.CommandLine;
using System.Globalization;
using Diffusion.Core;
using Diffusion.Core.Data;
using Diffusion.Core.Imaging;
using Diffusion.Core.Schedules;
using Diffusion.Core.Training;
using Diffusion.Evaluation;
using Diffusion.Models;
using Diffusion.Pipelines;
using Diffusion.Pipelines.Training;
using Diffusion.Samplers;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Cli;

/// <summary>The CLI's commands. Each declares its options, parses them into a library call, does one job, and writes what it
/// made into a folder.</summary>
internal static partial class Commands
{
    /// <summary>The 'diffusion' command with its sub-commands; long work stops when <paramref name="ct"/> fires.</summary>
    public static RootCommand Root(CancellationToken ct) => new("diffusion: train, sample and evaluate diffusion models.")
    {
        Train(ct), Sample(ct), Eval(ct), Report(ct), Serve(ct), Samplers(), Runs(), TrainVae(ct),
    };

    private static Command Train(CancellationToken ct)
    {
        var defaults = new TrainRunOptions();
        var preset = Flags.Text("--preset", "Starting configuration: " + string.Join(", ", Presets.Names) + ".", defaults.Preset, Presets.Names);
        preset.HelpName = "name";   // the description lists them (in their order, not the completion's alphabetical one)
        var minutes = Flags.OptionalDouble("--minutes", "Training time budget in minutes (overrides the preset).", 0.01, 1e6);
        var steps = Flags.OptionalInt("--steps", "Training step budget (overrides the preset).", 1);
        var output = Flags.Text("--out", "Run folder; an existing run folder is resumed. [default: runs/<preset>]");
        var dataDir = Flags.Text("--data-dir", "Folder holding the datasets (else $DIFFUSION_DATA, else ./data).");
        var dataset = Flags.Text("--dataset", "Train on another dataset than the preset's: " + string.Join(", ", Datasets.Names) + " or folder:<path> (one sub-folder per class, or a flat folder; resized and centre-cropped to the preset's size). The network's classes follow the data.");
        var batch = Flags.OptionalInt("--batch", "Batch size (overrides the preset).", 1, 65536);
        var lr = Flags.OptionalDouble("--lr", "Peak learning rate (overrides the preset).", 1e-7, 1);
        var labelDropout = Flags.OptionalDouble("--label-dropout", "Share of labels (text presets: captions) replaced by the null class (the empty prompt) during training, so classifier-free guidance has an unconditional model (overrides the preset's 0.1).", 0, 1);
        var schedule = Flags.Choice<BetaSchedule?>("--schedule", "Noise schedule of a new run: linear (Ho et al. 2020), cosine (Nichol & Dhariwal 2021) or sigmoid (overrides the preset's linear; a resumed run keeps its own).", "schedule",
            [(["linear"], BetaSchedule.Linear), (["cosine"], BetaSchedule.Cosine), (["sigmoid"], BetaSchedule.Sigmoid)]);
        var prediction = Flags.Choice<Prediction?>("--prediction", "What the network of a new run predicts: eps (the noise, Ho et al. 2020), v (velocity, Salimans & Ho 2022) or x0 (overrides the preset's: v for faces and faces32, eps for the others; a resumed run keeps its own).", "prediction",
            [(["eps", "epsilon"], Prediction.Epsilon), (["v"], Prediction.V), (["x0", "sample"], Prediction.Sample)]);
        var seed = Flags.Int("--seed", "Random seed.", (int)defaults.Seed, 0);
        var precision = PrecisionOption("auto (bf16 where the CPU has bf16 instructions, else fp32), bf16 (mixed precision), fp32 or autocast (fp32 weights, ATen autocast).");
        var threads = ThreadsOption("CPU threads for TorchSharp.");
        var device = DeviceOption();
        var from = Flags.Choice<ResumePoint?>("--from", "Resume from the latest checkpoint or the previous one (when the latest is corrupted): latest or previous. [default: latest]", "checkpoint",
            [(["latest"], ResumePoint.Latest), (["previous"], ResumePoint.Previous)]);
        var distributed = new Option<bool>("--distributed")
        {
            Description = "Data-parallel training as one process of an MPI job: 'mpirun.mpich -np P dotnet diffusion.dll train ... --distributed' (needs MPICH: apt-get install mpich). --batch is the global batch, split over the P processes; rank 0 writes --out. See docs/distributed.md.",
        };

        var replicas = Flags.Text("--devices", "Data-parallel training inside this process, one replica per device: e.g. cuda:0,cuda:1 (or cpu,cpu to try it). --batch is the whole batch, split over the devices; replaces --device. See docs/distributed.md.");
        var textEncoder = Flags.Text("--text-encoder", "Text presets (mnist-text, fashion-text): minilm (pretrained all-MiniLM-L6-v2, frozen, its outputs cached per caption; the presets' default) or learned (a small transformer trained with the UNet on the training captions' words). Recorded in run.json; a resumed run keeps its own.", completions: TextOptions.Encoders);
        textEncoder.HelpName = "minilm|learned";

        var checkpointing = new Option<bool>("--gradient-checkpointing")
        {
            Description = "Recompute each block's activations in backward instead of keeping them: less memory (about half the live tensor memory on the faces network), about a third slower, the same weights.",
        };

        var command = new Command("train", "Train a model from a preset; writes run.json, checkpoints, metrics, sample grids and a loss curve into --out.")
        {
            preset, minutes, steps, output, dataDir, dataset, batch, lr, labelDropout, schedule, prediction, seed, precision, threads, device, from, distributed,
            replicas, checkpointing, textEncoder,
        };
        command.SetAction(p =>
        {
            var request = new TrainRunOptions
            {
                Preset = p.GetValue(preset)!,
                OutputDirectory = p.GetValue(output),
                Minutes = p.GetValue(minutes),
                Steps = p.GetValue(steps),
                BatchSize = p.GetValue(batch),
                LearningRate = p.GetValue(lr),
                LabelDropout = p.GetValue(labelDropout),
                Schedule = p.GetValue(schedule),
                Prediction = p.GetValue(prediction),
                Dataset = p.GetValue(dataset),
                DataDirectory = p.GetValue(dataDir),
                Seed = p.GetValue(seed),
                Precision = p.GetValue(precision),
                Device = p.GetValue(device)!,
                ResumeFrom = p.GetValue(from) ?? ResumePoint.Latest,
                GradientCheckpointing = p.GetValue(checkpointing),
                TextEncoder = p.GetValue(textEncoder),
            };
            var devices = p.GetValue(replicas)?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            if (devices is not null)
            {
                if (p.GetValue(distributed)) throw new DiffusionException("--devices and --distributed do not go together: use one MPI process per device (mpirun ... --distributed), or --devices alone.");
                if (p.Given(device)) throw new DiffusionException("--devices replaces --device: give the devices in one list, e.g. --devices cuda:0,cuda:1.");
                if (devices.Length == 0) throw new DiffusionException("--devices takes a comma-separated list of devices, e.g. cuda:0,cuda:1.");
                set_num_threads(p.GetValue(threads));
                var replicated = TrainingDisplay.Run((log, progress) => RunTrainer.RunReplicated(request, devices, log, progress, ct));
                return Finish(replicated);
            }
            using var group = p.GetValue(distributed) ? DistributedTraining.Start() : null;
            if (group is not null) request = request with { Device = DistributedTraining.Device(request.Device) };
            set_num_threads(group is not null && !p.Given(threads) ? DistributedTraining.DefaultThreads() : p.GetValue(threads));
            if (group is { Rank: > 0 }) // rank 0 speaks for the job
                return DistributedTraining.Run(group, () => RunTrainer.Run(request, group, cancellationToken: ct)).Training.Cancelled ? 130 : 0;
            var run = group is null
                ? TrainingDisplay.Run((log, progress) => RunTrainer.Run(request, log, progress, ct))
                : DistributedTraining.Run(group, () => TrainingDisplay.Run((log, progress) => RunTrainer.Run(request, group, log, progress, ct)));
            return Finish(run);
        });
        return command;

        static int Finish(TrainRunResult run)
        {
            var result = run.Training;
            Console.WriteLine(result.Cancelled
                ? $"Stopped at step {result.Steps}; checkpoint saved. Run the same command again to resume."
                : $"Done: {result.Steps} steps in {result.Elapsed:h\\:mm\\:ss}, final loss {result.FinalLoss:F4}, {result.ImagesPerSecond:F0} img/s, peak memory {result.PeakWorkingSetBytes / 1048576} MB.");
            Console.WriteLine($"Run folder: {Path.GetFullPath(run.RunDirectory)}  Model: {Path.GetFullPath(run.ModelDirectory)}");
            return result.Cancelled ? 130 : 0;
        }
    }

    private static Command Sample(CancellationToken ct)
    {
        var defaults = new GenerationRequest();
        var runOption = RunOption();
        var cls = Flags.OptionalInt("--class", "Class to draw (e.g. 7); omit for one row per class.");
        var prompt = new Option<string[]>("--prompt")
        {
            Description = "Text models: what to draw, e.g. \"draw a seven\". Repeat it for several prompts: one prompt is used for every image, N prompts split --count into N rows (or one prompt per image). \"\" is the unconditional model; over-long prompts are truncated with a warning.",
            HelpName = "text",
            Arity = ArgumentArity.OneOrMore,
        };
        var countOption = Flags.Int("--count", "Number of images.", 100, 1, 100_000);
        var guidance = Flags.Double("--guidance", "Classifier-free guidance scale (0 = unconditional, 1 = plain conditional).", defaults.GuidanceScale, 0, 100);
        var interval = IntervalOption("Guide only for noise levels sigma in (LOW, HIGH], e.g. 0.28,5.42 (Kynkäänniemi et al. 2024); the conditional prediction elsewhere.");
        var rescale = Flags.Double("--guidance-rescale", "Guidance rescale phi in [0, 1] (Lin et al. 2023; 0.7 suggested).", 0, 0, 1);
        var samplerOption = SamplerOption("Sampler name (see 'diffusion samplers').", defaults.Sampler);
        var stepsOption = Flags.Int("--steps", "Sampling steps (at most the run's training timesteps).", defaults.Steps, 1);
        var seed = Flags.Int("--seed", "Random seed; the same seed gives the same images.", (int)defaults.Seed, 0);
        var output = Flags.Text("--out", "Grid PNG to write. [default: <run>/samples/grid.png]");
        var gif = Flags.Text("--gif", "Also write an animated GIF of the denoising trajectory.");
        var pngDir = Flags.Text("--png-dir", "Also write one PNG per image plus labels.csv into this folder.");
        var precision = PrecisionOption("auto, bf16, fp32 or autocast (fp32 weights, bf16 convolutions and matmuls) for the network.");
        var device = DeviceOption();
        var initOption = Flags.Text("--init", "Start from this picture (image-to-image; PNG, JPEG, ...), of the model's image size.");
        var strengthOption = Flags.Double("--strength", "With --init: the fraction of the schedule to run, in (0, 1]; small values change the picture little.", defaults.Strength, 1e-6, 1);

        var command = new Command("sample", "Draw images from a trained run into a PNG grid (and optionally a GIF and single PNGs).")
        {
            runOption, cls, prompt, countOption, guidance, interval, rescale, samplerOption, stepsOption, seed, output, gif, pngDir, precision, device, initOption, strengthOption,
        };
        command.SetAction(p =>
        {
            var run = p.GetValue(runOption)!;
            if (p.Given(strengthOption) && p.GetValue(initOption) is null) throw new DiffusionException("--strength needs --init IMAGE to start from.");
            using var pipe = DiffusionPipeline.Load(run, p.GetValue(device)!, p.GetValue(precision));
            var sampler = SamplerRegistry.Create(p.GetValue(samplerOption)!);
            int steps = p.GetValue(stepsOption), trainSteps = pipe.Components.Scheduler.TrainSteps;
            if (steps > trainSteps) throw new DiffusionException($"--steps must be between 1 and the run's {trainSteps} training timesteps, got {steps}.");
            int count = p.GetValue(countOption);
            var prompts = p.GetValue(prompt) is { Length: > 0 } given ? given : null;
            if (prompts is not null && !pipe.TakesPrompts)
                throw new DiffusionException($"This model {(pipe.ClassNames is null ? "is unconditional" : "is class-conditional")}: it takes no --prompt{(pipe.ClassNames is null ? "" : "; use --class")}.");
            if (prompts is null && pipe.TakesPrompts && p.GetValue(cls) is not null)
                throw new DiffusionException("This model is text-conditional: use --prompt \"...\" instead of --class.");
            var (labels, columns) = prompts is not null ? (null, 0) : Labels(pipe.ClassNames, p.GetValue(cls), ref count);
            var perImage = prompts is null ? null : Prompts(prompts, count, out columns);
            bool conditional = pipe.ClassNames is not null || prompts is not null;
            if (!conditional) WarnGuidanceIgnored(p, guidance, interval, rescale);
            double scale = p.GetValue(guidance), strength = p.GetValue(strengthOption);
            using var init = p.GetValue(initOption) is { } initPath ? ImageTensors.Load(initPath) : null;

            var clock = System.Diagnostics.Stopwatch.StartNew();
            var warnings = new SyncProgress<GenerationProgress>(r => { if (r.Warning is { } w) Console.Error.WriteLine($"warning: {w}"); });
            using var result = pipe.Generate(new GenerationRequest
            {
                Count = count, Classes = labels, Prompts = perImage, SamplerInstance = sampler, Steps = steps, GuidanceScale = scale, Seed = p.GetValue(seed),
                Guidance = GuidanceOptionsFrom(p.GetValue(interval), p.GetValue(rescale), pipe.Components.Scheduler),
                InitImage = init, Strength = init is null ? 1 : strength,
                TrajectoryEvery = p.GetValue(gif) is null ? null : Math.Max(1, steps / 25), TrajectoryImages = Math.Min(count, 100),
            }, warnings, ct);
            var outPath = p.GetValue(output) ?? Path.Combine(run, "samples", "grid.png");
            result.SaveGrid(outPath, columns, scale: 2);
            Console.WriteLine($"Sampled {count} images with {sampler.Name}, {steps} steps, {(conditional ? $"guidance {scale}" : "unconditional")}{(prompts is null ? "" : $", prompt{(prompts.Length == 1 ? "" : "s")} {string.Join(", ", prompts.Select(x => $"\"{x}\""))}")}{(init is null ? "" : $", from {p.GetValue(initOption)} at strength {strength}")} in {clock.Elapsed.TotalSeconds:F1} s -> {outPath}");
            if (p.GetValue(gif) is { } gifPath)
            {
                result.SaveGif(gifPath, Math.Min(columns, 10), scale: 2);
                Console.WriteLine($"Denoising GIF -> {gifPath}");
            }
            if (p.GetValue(pngDir) is { } dir)
            {
                result.SavePngs(dir);
                Console.WriteLine($"{count} PNGs and labels.csv -> {dir}");
            }
            return 0;
        });
        return command;
    }

    private static Command Runs()
    {
        var dir = Flags.Text("--dir", "Folder holding run folders (or one run folder).", "runs");
        var command = new Command("runs", "List the runs under a folder: preset, dataset, step, loss, learning rate, gradient norm, images/s, time.") { dir };
        command.SetAction(p =>
        {
            var runs = RunFolders.Find(p.GetValue(dir)!);
            if (runs.Count == 0) { Console.WriteLine($"No run folders (with {RunOptions.FileName}) in {p.GetValue(dir)}."); return 0; }
            static string F(double? v, string format) => v is double d ? d.ToString(format, CultureInfo.InvariantCulture) : "-";
            int w = Math.Max(4, runs.Max(r => r.Name.Length)) + 2;
            Console.WriteLine($"{"run".PadRight(w)}{"preset",-9}{"dataset",-16}{"step",8}{"loss",10}{"lr",10}{"grad",9}{"img/s",8}{"time",10}  model");
            foreach (var r in runs)
                Console.WriteLine($"{r.Name.PadRight(w)}{r.Preset,-9}{r.Dataset,-16}{(r.Step?.ToString(CultureInfo.InvariantCulture) ?? "-"),8}{F(r.Loss, "F4"),10}{F(r.LearningRate, "G3"),10}{F(r.GradientNorm, "F3"),9}{F(r.ImagesPerSecond, "F0"),8}"
                    + $"{(r.ElapsedSeconds is double e ? TimeSpan.FromSeconds(e).ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : "-"),10}  {(r.HasModel ? "yes" : "no")}"
                    + (r.SkippedSteps is > 0 ? $"  ({r.SkippedSteps} skipped)" : ""));
            return 0;
        });
        return command;
    }

    private static Command Samplers()
    {
        var command = new Command("samplers", "List the samplers with one line each.");
        command.SetAction(_ =>
        {
            int w = SamplerRegistry.All.Max(s => s.Name.Length) + 2;
            foreach (var s in SamplerRegistry.All)
                Console.WriteLine($"{s.Name.PadRight(w)}{s.Description} (recommended steps: {s.RecommendedSteps})");
            return 0;
        });
        return command;
    }

    /// <summary>The prompt of every image: one for all, one per image, or N prompts as N rows of count / N images.</summary>
    private static string[] Prompts(string[] prompts, int count, out int columns)
    {
        columns = (int)Math.Ceiling(Math.Sqrt(count));
        if (prompts.Length == 1 || prompts.Length == count) return prompts;
        if (count % prompts.Length != 0)
            throw new DiffusionException($"{prompts.Length} prompts do not split --count {count} into equal rows; give one prompt, one per image, or a --count divisible by {prompts.Length}.");
        columns = count / prompts.Length;
        int perRow = columns;
        return Enumerable.Range(0, count).Select(i => prompts[i / perRow]).ToArray();
    }

    private static (IReadOnlyList<int>? Labels, int Columns) Labels(IReadOnlyList<string>? classNames, int? cls, ref int count)
    {
        if (classNames is null)
        {
            if (cls is not null) throw new DiffusionException("This model is unconditional; drop --class.");
            return (null, (int)Math.Ceiling(Math.Sqrt(count)));
        }
        // An unknown class is refused by the pipeline's conditioner, with the valid ones listed.
        if (cls is int only) return (Enumerable.Repeat(only, count).ToArray(), (int)Math.Ceiling(Math.Sqrt(count)));
        int perRow = Math.Max(1, count / classNames.Count);
        count = perRow * classNames.Count;
        return (Enumerable.Range(0, count).Select(i => i / perRow).ToArray(), perRow);
    }

    /// <summary>
    /// Guidance needs classes. For an unconditional run, names on stderr those of <paramref name="options"/> that the user
    /// wrote (their defaults are no request): they do not apply.
    /// </summary>
    private static void WarnGuidanceIgnored(ParseResult parse, params Option[] options)
    {
        var given = options.Where(parse.Given).Select(o => o.Name).ToList();
        if (given.Count == 0) return;
        string names = given.Count == 1 ? given[0] : string.Join(", ", given[..^1]) + " and " + given[^1];
        Console.Error.WriteLine($"Unconditional run: {names} {(given.Count == 1 ? "does" : "do")} not apply and {(given.Count == 1 ? "is" : "are")} ignored.");
    }

    /// <summary>--guidance-interval (sigma range, converted to the run's timesteps) and --guidance-rescale; null when neither is set.</summary>
    private static GuidanceOptions? GuidanceOptionsFrom(SigmaInterval? interval, double rescale, INoiseScheduler schedule)
        => interval is null && rescale == 0 ? null : new GuidanceOptions { Interval = interval?.ToTimesteps(schedule), Rescale = rescale };

    // Options that several commands share.

    private static Option<string> RunOption()
    {
        var option = Flags.Text("--run", "Run folder written by 'train'.");
        option.Required = true;
        return option;
    }

    private static Option<string> SamplerOption(string description, string @default)
    {
        var option = Flags.Text("--sampler", description, @default, SamplerRegistry.All.Select(s => s.Name));
        option.HelpName = "name";   // eight of them: 'diffusion samplers' lists them, tab completion offers them
        option.Validators.Add(r =>
        {
            var name = r.GetValueOrDefault<string>();
            if (!SamplerRegistry.All.Any(s => s.Name.Equals(name?.Trim(), StringComparison.OrdinalIgnoreCase)))
                r.AddError($"Unknown sampler '{name}'. Known samplers: {SamplerRegistry.KnownNames}.");
        });
        return option;
    }

    private static Option<SigmaInterval?> IntervalOption(string description) => new("--guidance-interval")
    {
        Description = description,
        HelpName = "LOW,HIGH",
        CustomParser = r =>
        {
            var text = r.Tokens[^1].Value;
            if (SigmaInterval.TryParse(text, out var interval)) return interval;
            r.AddError($"--guidance-interval takes two noise levels 'LOW,HIGH' with 0 <= LOW < HIGH, e.g. 0.28,5.42; got '{text}'.");
            return null;
        },
    };

    private static Option<Precision> PrecisionOption(string description) => Flags.Choice<Precision>("--precision", description, "precision",
        [(["auto"], Precision.Auto), (["bf16", "bfloat16"], Precision.BFloat16), (["fp32", "float32"], Precision.Float32), (["autocast", "amp"], Precision.Autocast)], Precision.Auto);

    private static Option<int> ThreadsOption(string description) => Flags.Int("--threads", description, Environment.ProcessorCount, 1, 256);

    private static Option<string> DeviceOption() => Flags.Text("--device", "auto (CUDA when present), cpu, cuda or cuda:N.", "auto", ["auto", "cpu", "cuda"]);
}
