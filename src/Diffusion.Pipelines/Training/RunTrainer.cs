using System.Text.Json;
using Diffusion.Core;
using Diffusion.Core.Conditioning;
using Diffusion.Core.Data;
using Diffusion.Plotting;
using Diffusion.Core.Schedules;
using Diffusion.Core.Training;
using Diffusion.Models;
using Diffusion.Samplers;
using Diffusion.Text.Encoders;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Pipelines.Training;

/// <summary>
/// Trains a preset into a run folder: resolves the options (a preset, or the saved run when resuming, plus overrides),
/// refuses changes a resumed run cannot take, loads the data, builds UNet, schedule, conditioner and trainer, trains
/// with preview grids, and writes the EMA model as a pipeline folder (<c>model/</c>), the loss curve and
/// <c>train-result.json</c>. What the CLI's <c>train</c> does, as one library call.
/// </summary>
public static class RunTrainer
{
    /// <summary>Resolves the options a run will train with, without touching data or weights.</summary>
    /// <returns>The options, the run folder (<see cref="TrainRunOptions.OutputDirectory"/> or <c>runs/&lt;preset&gt;</c>) and
    /// whether an existing run there is resumed.</returns>
    /// <exception cref="DiffusionException">The preset is unknown, or a resumed run would change its schedule or prediction.</exception>
    public static (RunOptions Options, string OutputDirectory, bool Resuming) Resolve(TrainRunOptions request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var options = Presets.Get(request.Preset);
        var outDir = request.OutputDirectory ?? Path.Combine("runs", options.Preset);
        bool resuming = File.Exists(Path.Combine(outDir, RunOptions.FileName));
        if (resuming) options = RunOptions.Load(outDir);
        var t = options.Training;
        if (request.Minutes is double minutes) t = t with { MaxMinutes = minutes, MaxSteps = request.Steps };
        else if (request.Steps is int steps) t = t with { MaxSteps = steps, MaxMinutes = null };
        if (request.BatchSize is int b) t = t with { BatchSize = b };
        if (request.LearningRate is double lr) t = t with { LearningRate = lr };
        if (request.LabelDropout is double dropout) t = t with { LabelDropout = dropout };
        options = options with { Training = t with
        {
            Seed = request.Seed, Precision = request.Precision, ResumeFrom = request.ResumeFrom, GradientCheckpointing = request.GradientCheckpointing,
        } };
        if (request.Dataset is { } dataset && !resuming) options = options with { Dataset = dataset };
        if (request.Schedule is { } kind)
        {
            if (resuming && kind != options.Schedule.Kind)
                throw new DiffusionException($"{outDir} was trained with the {Name(options.Schedule.Kind)} schedule; a run can't change schedule when it resumes. Use a new output folder.");
            options = options with { Schedule = options.Schedule with { Kind = kind } };
        }
        if (request.Prediction is { } prediction)
        {
            if (resuming && prediction != options.Model.Prediction)
                throw new DiffusionException($"{outDir} was trained to predict {Name(options.Model.Prediction)}; a run can't change what it predicts when it resumes. Use a new output folder.");
            options = options with { Model = options.Model with { Prediction = prediction } };
        }
        if (request.TextEncoder is { } encoder)
        {
            if (options.Text is null)
                throw new DiffusionException($"Preset '{options.Preset}' is not text-conditioned; --text-encoder needs a text preset (mnist-text, fashion-text).");
            if (resuming && !string.Equals(encoder.Trim(), options.Text.Encoder, StringComparison.OrdinalIgnoreCase))
                throw new DiffusionException($"{outDir} was trained with the {options.Text.Encoder} text encoder; a run can't change encoder when it resumes. Use a new output folder.");
        }
        if (options.Text is not null && !resuming) options = TextRuns.WithEncoder(options, request.TextEncoder ?? options.Text.Encoder);
        options.Training.Validate();
        return (options, outDir, resuming);
    }

    /// <summary>Trains until the budget is reached or <paramref name="cancellationToken"/> fires (then saves a
    /// checkpoint and returns with <see cref="TrainingResult.Cancelled"/> set).</summary>
    /// <param name="request">Preset and overrides.</param>
    /// <param name="log">Receives one line per stage (resuming, data loaded, network size, …).</param>
    /// <param name="progress">Receives the trainer's reports every <see cref="TrainingOptions.LogEvery"/> steps.</param>
    /// <param name="cancellationToken">Stops the run at the next step.</param>
    /// <exception cref="DiffusionException">The options are invalid, the data are missing or do not fit the network.</exception>
    public static TrainRunResult Run(TrainRunOptions request, IProgress<string>? log = null, IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default)
        => Run(request, SingleProcess.Instance, log, progress, cancellationToken);

    /// <summary>Trains with one replica per device inside this process (<see cref="ReplicaGroup"/>: one thread per replica,
    /// e.g. one per CUDA device): every replica builds the network on its device and trains its share of every batch, the
    /// gradients are averaged before each optimizer step, and replica 0 writes the run folder, logs and reports progress.
    /// The run trains the weights one device would with the same batch, up to float summation order; a checkpoint resumes
    /// with any number of devices or processes.</summary>
    /// <param name="request">Preset and overrides; <see cref="TrainingOptions.BatchSize"/> is the whole batch, split evenly
    /// over the devices. Its <see cref="TrainRunOptions.Device"/> is ignored.</param>
    /// <param name="devices">One device name per replica ("cpu", "cuda:0", …; see <see cref="Devices.Resolve"/>); one
    /// device trains alone.</param>
    /// <param name="log">Receives one line per stage, from replica 0's thread.</param>
    /// <param name="progress">Receives replica 0's reports, on its thread.</param>
    /// <param name="cancellationToken">Stops every replica after the same step.</param>
    /// <exception cref="DiffusionException">No devices, an unknown or unavailable device, the batch does not split evenly
    /// over the devices, or what <see cref="Run(TrainRunOptions, IProgress{string}?, IProgress{TrainingProgress}?, CancellationToken)"/> refuses.</exception>
    public static TrainRunResult RunReplicated(TrainRunOptions request, IReadOnlyList<string> devices, IProgress<string>? log = null,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(devices);
        if (devices.Count == 0) throw new DiffusionException("Replicated training needs at least one device, e.g. cuda:0,cuda:1.");
        foreach (var d in devices) _ = Devices.Resolve(d); // an unknown or missing device fails here, once, before any thread starts
        if (devices.Count == 1) return Run(request with { Device = devices[0] }, log, progress, cancellationToken);
        log?.Report($"Replicas on {string.Join(", ", devices)}.");
        return ReplicaGroup.Run(devices.Count, g => Run(request with { Device = devices[g.Rank] }, g, log, progress, cancellationToken))[0];
    }

    /// <summary>Trains as one process of a data-parallel run (see <see cref="Trainer"/>): every process of
    /// <paramref name="processGroup"/> calls this with the same request. Each resolves the request (so bad input fails
    /// everywhere alike), then trains with rank 0's resolved options; rank 0 loads the data first (a download happens once),
    /// and only rank 0 writes the run folder, logs and reports progress.</summary>
    /// <param name="request">Preset and overrides; <see cref="TrainingOptions.BatchSize"/> is the global batch, split evenly
    /// over the processes.</param>
    /// <param name="processGroup">The processes of the run (<see cref="SingleProcess.Instance"/> alone).</param>
    /// <param name="log">Receives one line per stage, on rank 0.</param>
    /// <param name="progress">Receives the trainer's reports, on rank 0.</param>
    /// <param name="cancellationToken">Stops the run at the next step (on every process: the stop is agreed).</param>
    /// <exception cref="DiffusionException">The options are invalid, the data are missing or do not fit the network, or the
    /// batch does not split evenly over the processes.</exception>
    public static TrainRunResult Run(TrainRunOptions request, IProcessGroup processGroup, IProgress<string>? log = null,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(processGroup);
        bool writer = processGroup.Rank == 0;
        if (!writer) { log = null; progress = null; }
        var (options, outDir, resuming) = Resolve(request);
        if (processGroup.Size > 1)
        {
            // Rank 0's view of the run folder wins: a node that cannot see it still trains the resumed run's options.
            options = JsonSerializer.Deserialize<RunOptions>(processGroup.BroadcastText(OptionsJson.Serialize(options)), OptionsJson.Options)!;
            resuming = processGroup.BroadcastText(resuming ? "1" : "0") == "1";
            _ = processGroup.ShardOf(options.Training.BatchSize);
            log?.Report($"Data-parallel training on {processGroup.Size} {(processGroup is ReplicaGroup ? "replicas" : "processes")}: batch {options.Training.BatchSize} = {processGroup.Size} x {options.Training.BatchSize / processGroup.Size}.");
        }
        if (resuming) log?.Report($"Resuming run in {outDir} (preset {options.Preset}).");
        var device = Devices.Resolve(request.Device);
        var dataDir = DataDirectory.Resolve(request.DataDirectory);
        log?.Report($"Loading {options.Dataset} from {dataDir} ...");
        if (!writer) processGroup.Barrier();
        using var data = options.LoadData(dataDir, DatasetSplit.Train, log, cancellationToken);
        if (writer && processGroup.Size > 1) processGroup.Barrier();
        if (request.Dataset is not null && !resuming && options.Text is null)
            options = options with { Model = options.Model with { NumClasses = data.Classes.Count > 1 ? data.Classes.Count : null } };
        if (options.Model.NumClasses is int classes && classes != data.Classes.Count)
            throw new DiffusionException($"The preset's network has {classes} classes but {options.Dataset} has {data.Classes.Count}; pick a dataset with {classes} classes or an unconditional preset.");
        log?.Report($"{data.Count:N0} images, {data.Size}x{data.Size}x{data.Channels}, {data.Classes.Count} class(es).");
        if (writer)
        {
            Directory.CreateDirectory(outDir);
            OptionsJson.Save(options, Path.Combine(outDir, RunOptions.FileName));
        }

        var t = options.Training;
        using var network = NewNetwork(options.Model, t.Seed);
        log?.Report($"UNet: {network.ParameterCount:N0} parameters; training {Budget(t)} in {t.Precision.Resolve(device)}, batch {t.BatchSize}, {get_num_threads()} threads{(t.GradientCheckpointing ? ", gradient checkpointing" : "")}.");
        // Text runs: captions from the labels, the UNet (with the learned encoder as one module), a text conditioner whose
        // frozen pretrained encoder is cached per caption.
        using var learned = options.Text is { Encoder: TextOptions.Learned } ? TextRuns.NewLearnedEncoder(options) : null;
        using var captioned = options.Text is null ? null : TextRuns.Captioned(options, data);
        var text = options.Text is null ? null : TextRuns.Conditioner(options, learned, cache: true, log);
        try
        {
            if (options.Text is { } to)
                log?.Report($"Text: {to.Encoder} encoder ({text!.Encoder.HiddenSize}-wide tokens, {to.MaxLength} per caption{(learned is null ? ", frozen, cached per caption" : $", {learned.parameters().Sum(p => p.numel()):N0} parameters, trained with the UNet")}); {TextRuns.Captions(options).Name} label captions, held-out phrasings excluded.");
            IConditioner? conditioner = text is not null ? text : options.Model.NumClasses is int k ? new ClassConditioner(k, data.Classes) : null;
            using var trained = learned is null ? null : TextRuns.TrainedNetwork(network, learned);
            using var trainer = new Trainer(trained ?? network, new NoiseSchedule(options.Schedule), conditioner, (ITrainingData?)captioned ?? data, t, outDir, device,
                processGroup: processGroup) { Log = log };
            if (trainer.Step > 0) log?.Report($"Continuing from step {trainer.Step}.");
            var result = trainer.Run(progress, step => Preview(options, trainer, outDir, step, data.Classes, text), cancellationToken);
            var modelDir = Path.Combine(outDir, RunFolders.ModelFolder);
            if (writer)
            {
                SaveModel(options, trainer.EmaWeights, data.Classes, modelDir, text);
                WriteLossCurve(outDir);
                OptionsJson.Save(result, Path.Combine(outDir, "train-result.json"));
            }
            return new TrainRunResult(outDir, modelDir, options, result);
        }
        finally
        {
            if (learned is null && text is not null) PipelineFolder.DisposeConditioner(text); // the cache and the ONNX session
        }
    }

    private static readonly object NetworkInit = new();

    /// <summary>A freshly initialised network from the seed; under a lock, since replicas on threads share torch's global generator.</summary>
    private static UNet NewNetwork(UNetOptions model, long seed)
    {
        lock (NetworkInit)
        {
            manual_seed(seed);
            return new UNet(model);
        }
    }

    /// <summary>Writes EMA weights as a pipeline folder: the UNet's in <c>unet/</c> and, for a text run, the text components
    /// (a learned encoder's EMA weights in <c>text_encoder/</c>; a pretrained encoder recorded by name).</summary>
    /// <param name="options">The run's options.</param>
    /// <param name="emaWeights">The trainer's EMA weights (for a learned-encoder run, of UNet and encoder together).</param>
    /// <param name="classNames">Class names of a class-conditional run.</param>
    /// <param name="folder">The model folder to write.</param>
    /// <param name="pretrainedText">A text run's conditioner with its pretrained encoder (saved by name); null makes one from
    /// the registry when needed. Ignored for learned-encoder runs, whose conditioner is rebuilt from the EMA weights.</param>
    public static void SaveModel(RunOptions options, IReadOnlyDictionary<string, Tensor> emaWeights, IReadOnlyList<string>? classNames, string folder,
        TextConditioner? pretrainedText = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var scope = NewDisposeScope();
        var (network, text, owned) = EmaComponents(options, emaWeights, pretrainedText);
        try
        {
            PipelineFolder.Save(PipelineFolder.FromRun(options, network, classNames, text), folder);
        }
        finally
        {
            network.Dispose();
            owned?.Dispose();
        }
    }

    /// <summary>A float32 UNet of the run's architecture holding the EMA weights, and for a text run its conditioner (a
    /// learned encoder with the EMA weights, owned by the caller as <c>Owned</c>; or <paramref name="pretrainedText"/>).</summary>
    private static (UNet Network, TextConditioner? Text, IDisposable? Owned) EmaComponents(RunOptions options, IReadOnlyDictionary<string, Tensor> emaWeights,
        TextConditioner? pretrainedText)
    {
        var (unetWeights, textWeights) = options.Text is null ? (emaWeights, null) : TextRuns.Split(options, emaWeights);
        var network = new UNet(options.Model);
        try
        {
            StateDicts.CopyInto(network, unetWeights, "EMA weights");
            if (options.Text is null) return (network, null, null);
            if (textWeights is null)
            {
                if (pretrainedText is not null) return (network, pretrainedText, null);
                var made = TextRuns.Conditioner(options, null, cache: false);
                return (network, made, new ConditionerOwner(made));
            }
            var encoder = TextRuns.NewLearnedEncoder(options);
            StateDicts.CopyInto(encoder, textWeights, "EMA text encoder weights");
            encoder.Freeze();
            encoder.eval();
            return (network, TextRuns.Conditioner(options, encoder, cache: false), encoder);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    private sealed class ConditionerOwner(TextConditioner conditioner) : IDisposable
    {
        public void Dispose() => PipelineFolder.DisposeConditioner(conditioner);
    }

    private static void Preview(RunOptions options, Trainer trainer, string outDir, int step, IReadOnlyList<string> classNames, TextConditioner? text)
    {
        using var scope = NewDisposeScope();
        var (network, previewText, owned) = EmaComponents(options, trainer.EmaWeights, text);
        using var _ = network;
        using var __ = owned;
        if (Precision.Auto.Resolve() == Precision.BFloat16) network.to(ScalarType.BFloat16);
        network.eval();
        var components = PipelineFolder.FromRun(options, network, classNames, previewText);
        int perClass = 10;
        var prompts = options.Text is null ? null : TextRuns.PreviewPrompts(options);
        int rows = prompts?.Count ?? options.Model.NumClasses ?? 0;
        int count = rows > 0 ? rows * perClass : 64;
        var request = new GenerationRequest
        {
            Count = count,
            Classes = prompts is null && options.Model.NumClasses is not null ? Enumerable.Range(0, count).Select(i => i / perClass).ToArray() : null,
            Prompts = prompts is null ? null : Enumerable.Range(0, count).Select(i => prompts[i / perClass]).ToArray(),
            Sampler = options.PreviewSampler, Steps = options.PreviewSteps, GuidanceScale = options.PreviewGuidance, Seed = 0,
        };
        using var images = Generation.Run(components, CPU, request, null, CancellationToken.None);
        images.SaveGrid(Path.Combine(outDir, "samples", $"step-{step:D6}.png"), rows == 0 ? 8 : perClass, scale: 2);
    }

    internal static void WriteLossCurve(string outDir)
    {
        var path = Path.Combine(outDir, "metrics.jsonl");
        if (!File.Exists(path)) return;
        var points = File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement)
            .Select(e => (Step: e.GetProperty("step").GetDouble(), Loss: e.GetProperty("loss").GetDouble())).ToList();
        if (points.Count < 2) return;
        LinePlot.SavePng(points.Select(p => p.Step).ToArray(), points.Select(p => p.Loss).ToArray(), Path.Combine(outDir, "loss.png"),
            new LinePlotOptions { Title = "training loss", LogY = true, Smoothing = 0.6 });
    }

    /// <summary>The names the schedule and prediction options take, for messages and reports.</summary>
    public static string Name(Prediction p) => p switch { Prediction.Epsilon => "eps", Prediction.V => "v", _ => "x0" };

    /// <inheritdoc cref="Name(Prediction)"/>
    public static string Name(BetaSchedule kind) => kind.ToString().ToLowerInvariant();

    private static string Budget(TrainingOptions t)
        => t.MaxSteps is int s ? $"{s} steps" + (t.MaxMinutes is double m0 ? $" or {m0} min" : "") : $"{t.MaxMinutes} min";
}
