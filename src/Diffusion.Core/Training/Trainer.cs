using System.Diagnostics;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Training;

/// <summary>
/// Trains a denoiser network: AdamW with warm-up, gradient clipping, EMA, optional bf16 mixed
/// precision, label dropout for classifier-free guidance, periodic checkpoints and previews, exact resume.
/// Everything a run produces goes into one folder:
/// <c>training.json</c>, <c>metrics.jsonl</c>, <c>checkpoints/latest/{model,ema,optimizer}.safetensors + state.json</c>.
/// <para>
/// Data-parallel training (an <see cref="IProcessGroup"/> of P processes, each running its own trainer): every process
/// reads the same global micro-batch of <see cref="TrainingOptions.BatchSize"/> and draws the same random numbers for it
/// (flips, label dropout, timesteps, noise) from the same generator, then trains on its shard of B/P rows
/// (<see cref="ProcessGroups.ShardOf"/>); the gradients are averaged over the processes before <see cref="GradientHook"/>,
/// the finiteness check and clipping, so every process takes the same decisions and the same optimizer and EMA steps, and P
/// processes train like one process with the same batch up to float summation order. Rank 0's state (fresh or resumed)
/// is broadcast at the start; the budget and cancellation are agreed so all stop after the same step; only rank 0 touches
/// the run folder (checkpoints, metrics, training.json), reports progress and calls the preview callback.
/// </para>
/// </summary>
public sealed partial class Trainer : IDisposable
{
    /// <summary>File name of the checkpoint weights (float32 master weights).</summary>
    public const string ModelFile = "model.safetensors";
    /// <summary>File name of the EMA weights (what sampling uses).</summary>
    public const string EmaFile = "ema.safetensors";

    private readonly nn.Module<Tensor, Tensor, Condition, Tensor> _network;
    private readonly IDenoiser? _denoiser;
    private readonly INoiseScheduler? _scheduler;
    private readonly IConditioner? _conditioner;
    private readonly IAutoencoder? _autoencoder;
    private readonly ITrainingData _data;
    private readonly Device _device;
    private readonly MasterWeights _weights;
    private readonly AdamW _optimizer;
    private readonly ExponentialMovingAverage _ema;
    private readonly ITrainingObjective _objective;
    private readonly Data.ImageAugmentation _augmentation;
    private readonly Generator _generator;
    private readonly IProcessGroup _group;
    private readonly BatchShard _shard;
    private double _elapsedBefore;
    private double _lastLoss = double.NaN;
    private Tensor? _permutation;
    private int _epoch = -1;

    /// <summary>Prepares a run in <paramref name="runDirectory"/>; if it holds a checkpoint, continues from it.</summary>
    /// <param name="network">The network; must also implement <see cref="IDenoiser"/> unless <paramref name="objective"/> is
    /// given (an autoencoder trained with its own objective). The trainer changes it in place, as
    /// the caller should know: it moves it to <paramref name="device"/>, and its trainable parameters become views of the
    /// trainer's flat compute buffer — bfloat16 when <see cref="TrainingOptions.Precision"/> resolves to
    /// <see cref="Precision.BFloat16"/> (the whole module is converted; <see cref="ComputeType"/> says which), while float32
    /// master weights live in the trainer (<see cref="Weights"/>, <see cref="EmaWeights"/>); float32 otherwise, also for
    /// <see cref="Precision.Autocast"/>, where the network keeps its float32 parameters and ATen casts per operation. To use the result in float32,
    /// load <see cref="EmaWeights"/> into a fresh network. Parameters with <c>requires_grad = false</c> (a frozen text
    /// encoder, the UNet under a ControlNet) are neither trained nor checkpointed.</param>
    /// <param name="scheduler">The noise schedule; may be null only with an <paramref name="objective"/> that needs none.</param>
    /// <param name="conditioner">Encodes each batch's raw inputs (labels, captions) inside the step and drops them for
    /// classifier-free guidance; null for unconditional training.</param>
    /// <param name="data">Training examples.</param>
    /// <param name="options">Training options (validated).</param>
    /// <param name="runDirectory">Folder for everything the run writes.</param>
    /// <param name="device">Where to train; null for the CPU.</param>
    /// <param name="autoencoder">For latent diffusion: a frozen autoencoder that encodes every batch (after augmentation)
    /// before noising, so the network learns its latents; null trains on pixels.</param>
    /// <param name="objective">What each step minimises; null: the denoising loss (<see cref="DiffusionObjective"/>) for the
    /// network's prediction under <paramref name="scheduler"/>, with <see cref="TrainingOptions.MinSnrGamma"/>.</param>
    /// <param name="processGroup">The processes of a data-parallel run, each constructing its own trainer with the same
    /// options and network architecture (see the class remarks); null or <see cref="SingleProcess"/> trains alone. Ranks
    /// other than 0 never touch <paramref name="runDirectory"/>: rank 0's weights, optimizer state, step and generator
    /// (fresh or resumed from its checkpoint) are broadcast to them here.</param>
    /// <exception cref="DiffusionException">Options are invalid, the batch does not split evenly over the processes, or the
    /// existing checkpoint does not fit the network.</exception>
    public Trainer(nn.Module<Tensor, Tensor, Condition, Tensor> network, INoiseScheduler? scheduler, IConditioner? conditioner,
        ITrainingData data, TrainingOptions options, string runDirectory, Device? device = null, IAutoencoder? autoencoder = null,
        ITrainingObjective? objective = null, IProcessGroup? processGroup = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        options = options with { Precision = options.Precision.Resolve(device) };
        _denoiser = network as IDenoiser;
        if (objective is null && _denoiser is null)
            throw new DiffusionException($"{network.GetType().Name} does not implement IDenoiser; a network that is not a denoiser needs its own training objective.");
        if (objective is null && scheduler is null)
            throw new ArgumentNullException(nameof(scheduler), "The denoising objective needs a noise schedule.");
        if (data.Count < options.BatchSize * options.GradientAccumulation)
            throw new DiffusionException($"The dataset has {data.Count} examples, fewer than one step's {options.GradientAccumulation} micro-batch(es) of {options.BatchSize}.");
        _network = network;
        _scheduler = scheduler;
        _conditioner = conditioner;
        _autoencoder = autoencoder;
        _data = data;
        Options = options;
        RunDirectory = runDirectory;
        _device = device ?? CPU;
        _group = processGroup ?? SingleProcess.Instance;
        _shard = _group.ShardOf(options.BatchSize);
        network.to(_device);
        if (options.GradientCheckpointing)
        {
            if (network is not ISupportsGradientCheckpointing checkpointable)
                throw new DiffusionException($"GradientCheckpointing is set but {network.GetType().Name} does not implement ISupportsGradientCheckpointing.");
            checkpointable.GradientCheckpointing = true;
        }
        if (options.Precision == Precision.Autocast) Autocast.EnsureAvailable();
        _weights = new MasterWeights(network, options.Precision); // only BFloat16 gets a separate compute copy
        _optimizer = new AdamW(_weights.Layout, options.Beta1, options.Beta2, options.AdamEpsilon, options.WeightDecay, _device);
        _ema = new ExponentialMovingAverage(_weights.Layout, _weights.Master, options.EmaDecay);
        _objective = objective ?? new DiffusionObjective(scheduler!, _denoiser!.Prediction, options.MinSnrGamma);
        _generator = new Generator((ulong)options.Seed, CPU);
        _augmentation = options.ResolvedAugmentation.Build();
        if (IsWriter)
        {
            Directory.CreateDirectory(runDirectory);
            if (HasCheckpoint(runDirectory)) LoadCheckpoint();
            OptionsJson.Save(options, Path.Combine(runDirectory, "training.json"));
        }
        if (_group.Size > 1) BroadcastState();
    }

    /// <summary>The options of this run.</summary>
    public TrainingOptions Options { get; }

    /// <summary>The run folder.</summary>
    public string RunDirectory { get; }

    /// <summary>Optimizer steps done so far (across resumes).</summary>
    public int Step { get; private set; }

    /// <summary>The EMA weights by parameter name (float32, live).</summary>
    public IReadOnlyDictionary<string, Tensor> EmaWeights => _ema.Weights;

    /// <summary>The float32 master weights by parameter name (live).</summary>
    public IReadOnlyDictionary<string, Tensor> Weights => _weights.Masters.ToDictionary(m => m.Name, m => m.Weight);

    /// <summary>The dtype of the network's trainable parameters during training: bfloat16 for <see cref="Precision.BFloat16"/>,
    /// float32 otherwise (with <see cref="Precision.Autocast"/> the parameters stay float32 and ATen casts per operation).</summary>
    public ScalarType ComputeType => Options.Precision == Precision.BFloat16 ? ScalarType.BFloat16 : ScalarType.Float32;

    /// <summary>
    /// Called once per optimizer step, after the backward passes of all micro-batches and before clipping and the
    /// optimizer, with the flat float32 gradient of every trainable parameter (in <see cref="ParameterLayout"/> order).
    /// It may change the buffer in place: data-parallel training averages it across processes here. Default none.
    /// </summary>
    public Action<Tensor>? GradientHook { get; set; }

    /// <summary>Receives warnings (a skipped non-finite step). Default none.</summary>
    public IProgress<string>? Log { get; set; }

    /// <summary>Steps skipped so far in this call because their loss or gradient was not finite.</summary>
    public int SkippedSteps { get; private set; }

    private int _skippedInARow;
    private double _lastGradientNorm = double.NaN;

    private static double GradientNorm(Tensor gradients)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return gradients.to(ScalarType.Float64).norm().item<double>();
    }

    /// <summary>True when the run folder holds a checkpoint to resume from (latest, previous, or a legacy latest.old).</summary>
    public static bool HasCheckpoint(string runDirectory)
        => Directory.Exists(CheckpointDirectory(runDirectory)) || Directory.Exists(PreviousCheckpointDirectory(runDirectory))
        || Directory.Exists(CheckpointDirectory(runDirectory) + ".old");

    /// <summary>The checkpoint folder a resume reads: the latest (or, after a crash between renames, the previous or a
    /// legacy <c>latest.old</c>), or the previous one when asked for.</summary>
    /// <exception cref="DiffusionException">The previous checkpoint was asked for but there is none.</exception>
    public static string CheckpointToResume(string runDirectory, ResumePoint from)
    {
        var latest = CheckpointDirectory(runDirectory);
        var previous = PreviousCheckpointDirectory(runDirectory);
        if (from == ResumePoint.Previous)
            return Directory.Exists(previous) ? previous
                : throw new DiffusionException($"Run '{runDirectory}' has no previous checkpoint ({previous} is missing).");
        if (Directory.Exists(latest)) return latest;
        return Directory.Exists(previous) ? previous : latest + ".old";
    }

    /// <summary>Folder of the latest checkpoint of a run.</summary>
    public static string CheckpointDirectory(string runDirectory) => Path.Combine(runDirectory, "checkpoints", "latest");

    /// <summary>
    /// Trains until the step or time budget is reached or <paramref name="cancellationToken"/> fires; writes a
    /// checkpoint at the end in every case.
    /// </summary>
    /// <param name="progress">Receives a report every <see cref="TrainingOptions.LogEvery"/> steps.</param>
    /// <param name="onPreview">Called synchronously every <see cref="TrainingOptions.SampleEvery"/> steps and at the end
    /// with the step number, e.g. to sample a grid from <see cref="EmaWeights"/>.</param>
    /// <param name="cancellationToken">Stops the run at the next step boundary.</param>
    public TrainingResult Run(IProgress<TrainingProgress>? progress = null, Action<int>? onPreview = null, CancellationToken cancellationToken = default)
    {
        var o = Options;
        var clock = Stopwatch.StartNew();
        var callClock = Stopwatch.StartNew();
        var windowClock = Stopwatch.StartNew();
        long peak = Environment.WorkingSet;
        int startStep = Step, windowSteps = 0;
        using var lossSum = zeros(1, device: _device);
        bool cancelled = false;
        _network.train();
        using var metrics = IsWriter ? new StreamWriter(Path.Combine(RunDirectory, "metrics.jsonl"), append: true) : null;
        int skippedBefore = SkippedSteps;

        // Every process decides to stop together (its own clock and signals are not the others'): the budget and the
        // cancellation are agreed once per step.
        bool last = _group.Any(BudgetReached(clock));
        while (!last)
        {
            if (_group.Any(cancellationToken.IsCancellationRequested)) { cancelled = true; break; }
            using (var scope = NewDisposeScope())
            {
                var loss = TrainStep();
                using (no_grad()) lossSum.add_(loss.detach().to(ScalarType.Float32));
            }
            Step++; windowSteps++;
            last = _group.Any(BudgetReached(clock));
            if (Step % o.LogEvery == 0 || last)
            {
                using (NewDisposeScope())
                {
                    _group.AllReduceMean(lossSum); // each shard's mean loss; their mean is the global batch's
                    _lastLoss = lossSum.ToSingle() / windowSteps;
                    lossSum.zero_();
                }
                double ips = windowSteps * o.BatchSize * o.GradientAccumulation / windowClock.Elapsed.TotalSeconds;
                var elapsed = TimeSpan.FromSeconds(_elapsedBefore + clock.Elapsed.TotalSeconds);
                peak = Math.Max(peak, Environment.WorkingSet);
                if (metrics is not null)
                {
                    metrics.WriteLine(JsonSerializer.Serialize(new
                    {
                        step = Step, loss = _lastLoss, lr = o.LearningRateAt(Step - 1), imagesPerSecond = ips, gradNorm = _lastGradientNorm, skippedSteps = SkippedSteps,
                        skippedInInterval = SkippedSteps - skippedBefore, elapsedSeconds = elapsed.TotalSeconds, workingSetMB = Environment.WorkingSet / 1048576.0,
                        processes = _group.Size,
                    }, OptionsJson.Compact));
                    metrics.Flush();
                    progress?.Report(new TrainingProgress(Step, o.MaxSteps, _lastLoss, o.LearningRateAt(Step - 1), ips, elapsed, Remaining(clock, startStep)));
                }
                skippedBefore = SkippedSteps;
                windowSteps = 0;
                windowClock.Restart();
            }
            if (o.SampleEvery is int every && Step % every == 0 && !last && IsWriter) onPreview?.Invoke(Step);
            if (Step % o.CheckpointEvery == 0 && !last) SaveCheckpoint(clock);
        }
        SaveCheckpoint(clock);
        if (IsWriter) onPreview?.Invoke(Step);
        double total = _elapsedBefore + clock.Elapsed.TotalSeconds;
        double thisCall = Math.Max(callClock.Elapsed.TotalSeconds, 1e-9);
        return new TrainingResult(Step, _lastLoss, TimeSpan.FromSeconds(total), (Step - startStep) * o.BatchSize * o.GradientAccumulation / thisCall, peak, cancelled);
    }

    private Tensor TrainStep()
    {
        var o = Options;
        int n = o.GradientAccumulation;
        Tensor total = zeros(1, device: _device);
        for (int micro = 0; micro < n; micro++)
        {
            var loss = MicroBatchLoss(Step * n + micro);
            (n == 1 ? loss : loss / n).backward();
            if (o.GradientCheckpointing) GradientCheckpoint.ReleaseHandedBack();
            using (no_grad()) total = total + loss.detach().to(ScalarType.Float32) / n;
        }
        var gradients = _weights.Gradients();
        if (_group.Size > 1) _group.AllReduceMean(gradients); // the data-parallel average, before anything reads the gradient
        GradientHook?.Invoke(gradients);
        bool finite = isfinite(total).all().logical_and(isfinite(gradients).all()).item<bool>(); // one host sync per step
        if (!_group.All(finite)) // a shard's loss may be non-finite alone: every process skips together
        {
            // A NaN or Inf would poison the weights, the optimizer moments and the EMA: skip the update.
            _weights.ZeroGradients();
            SkippedSteps++;
            if (++_skippedInARow > o.MaxSkippedSteps)
                throw new DiffusionException($"Training stopped at step {Step}: the loss or the gradients were not finite in {_skippedInARow} steps in a row. " +
                    $"The last good checkpoint ({CheckpointDirectory(RunDirectory)}) is kept; lower the learning rate or check the data.");
            if (IsWriter) Log?.Report($"Step {Step + 1}: the loss or the gradients are not finite (NaN or Inf); the step is skipped ({_skippedInARow} in a row, at most {o.MaxSkippedSteps}).");
            return zeros(1, device: _device);
        }
        _skippedInARow = 0;
        if (o.GradientClip is double clip) _lastGradientNorm = MasterWeights.ClipGradients(gradients, clip);
        else if ((Step + 1) % o.LogEvery == 0) _lastGradientNorm = GradientNorm(gradients); // only when it is logged: a host sync
        _optimizer.Step(_weights.Master, gradients, o.LearningRateAt(Step));
        _weights.ZeroGradients();
        _weights.PushToNetwork();
        _ema.Update(_weights.Master, Step);
        return total;
    }

    /// <summary>One micro-batch: augment, encode, condition (with dropout), then the objective. In data-parallel training
    /// every process prepares the whole global micro-batch with the same random draws and keeps its shard for the
    /// objective, so an example's flip, dropout, timestep and noise do not depend on the number of processes.</summary>
    private Tensor MicroBatchLoss(int microStep)
    {
        var o = Options;
        var batch = _data.GetBatch(BatchIndices(microStep));
        var x0 = batch.Images.to(_device);
        x0 = _augmentation.Apply(x0, _generator);
        if (_autoencoder is not null)
            using (no_grad()) x0 = _autoencoder.Encode(x0, _generator);
        var condition = _conditioner?.EncodeBatch(batch, _device) ?? Condition.None;
        if (_conditioner is not null) condition = _conditioner.DropForTraining(condition, o.LabelDropout, _generator);
        if (!_shard.IsWhole)
        {
            x0 = _shard.Of(x0);
            condition = condition.Map((_, c) => _shard.Of(c));
        }
        // Autocast covers the forward pass and the loss; backward runs outside it (the recorded casts give it its dtypes),
        // and closing the scope drops the cached bf16 weights, which the optimizer step is about to change.
        using var amp = Options.Precision == Precision.Autocast ? Autocast.Enter(_device) : null;
        return _objective.Loss(_network, x0, condition, _generator, _shard);
    }

    /// <summary>The micro-batch for a global micro-step: epochs are permutations seeded by (seed, epoch), so a resumed run
    /// sees exactly the batches the uninterrupted run would have seen, and N micro-batches of B hold the same examples as
    /// one batch of N·B.</summary>
    private Tensor BatchIndices(int step)
    {
        int perEpoch = _data.Count / Options.BatchSize;
        int epoch = step / perEpoch, position = step % perEpoch;
        if (_epoch != epoch || _permutation is null)
        {
            _permutation?.Dispose();
            using var g = new Generator((ulong)(Options.Seed * 1_000_003L + epoch + 1), CPU);
            _permutation = randperm(_data.Count, generator: g).DetachFromDisposeScope();
            _epoch = epoch;
        }
        return _permutation.narrow(0, position * Options.BatchSize, Options.BatchSize);
    }

    private bool BudgetReached(Stopwatch clock)
        => (Options.MaxSteps is int max && Step >= max)
        || (Options.MaxMinutes is double minutes && _elapsedBefore + clock.Elapsed.TotalSeconds >= minutes * 60);

    private TimeSpan? Remaining(Stopwatch clock, int startStep)
    {
        double secondsPerStep = clock.Elapsed.TotalSeconds / Math.Max(1, Step - startStep);
        double? bySteps = Options.MaxSteps is int max ? (max - Step) * secondsPerStep : null;
        double? byTime = Options.MaxMinutes is double m ? m * 60 - _elapsedBefore - clock.Elapsed.TotalSeconds : null;
        double? r = bySteps is null ? byTime : byTime is null ? bySteps : Math.Min(bySteps.Value, byTime.Value);
        return r is null ? null : TimeSpan.FromSeconds(Math.Max(0, r.Value));
    }

    private void SaveCheckpoint(Stopwatch clock)
    {
        if (!IsWriter)
        {
            // Same clock bookkeeping as rank 0, without writing: the weights are rank 0's.
            _elapsedBefore += clock.Elapsed.TotalSeconds;
            clock.Restart();
            return;
        }
        using var scope = NewDisposeScope();
        // Non-finite weights are never saved: the last good checkpoint stays what a resume or a sampler reads.
        if (!isfinite(_weights.Master).all().item<bool>() || !_ema.Weights.Values.All(w => isfinite(w).all().item<bool>()))
            throw new DiffusionException($"The weights are not finite (NaN or Inf) at step {Step}; they were not saved, and the last good checkpoint in {CheckpointDirectory(RunDirectory)} is kept.");
        var final = CheckpointDirectory(RunDirectory);
        var tmp = final + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        StateDicts.Save(_weights.Masters.ToDictionary(m => m.Name, m => m.Weight), Path.Combine(tmp, ModelFile));
        StateDicts.Save(_ema.Weights, Path.Combine(tmp, EmaFile));
        StateDicts.Save(_optimizer.StateDict(), Path.Combine(tmp, "optimizer.safetensors"));
        var state = new TrainerState
        {
            Step = Step,
            ElapsedSeconds = _elapsedBefore + clock.Elapsed.TotalSeconds,
            LastLoss = _lastLoss,
            GeneratorState = GeneratorStateBase64(),
        };
        OptionsJson.Save(state, Path.Combine(tmp, "state.json"));
        FileManifest.Write(tmp); // last: a checkpoint without a complete manifest was never finished
        // Rotate: the oldest kept one goes, latest becomes previous, the new one becomes latest. A crash between the
        // renames leaves no "latest" but a complete "previous", which LoadCheckpoint falls back to.
        var kept = KeptDirectories(RunDirectory, Options.KeepCheckpoints);
        if (Directory.Exists(kept[^1])) Directory.Delete(kept[^1], true);
        for (int i = kept.Count - 1; i > 0; i--)
            if (Directory.Exists(kept[i - 1])) Directory.Move(kept[i - 1], kept[i]);
        Directory.Move(tmp, final);
        var legacy = final + ".old";
        if (Directory.Exists(legacy)) Directory.Delete(legacy, true);
        _elapsedBefore = state.ElapsedSeconds;
        clock.Restart();
    }

    /// <summary>The checkpoint folders a run keeps, newest first: <c>latest</c>, <c>previous</c>, <c>previous-2</c>, …</summary>
    public static IReadOnlyList<string> KeptDirectories(string runDirectory, int keep)
    {
        var root = Path.Combine(runDirectory, "checkpoints");
        return Enumerable.Range(0, Math.Max(1, keep)).Select(i => Path.Combine(root, i switch { 0 => "latest", 1 => "previous", _ => $"previous-{i}" })).ToArray();
    }

    /// <summary>Folder of the checkpoint before the latest one.</summary>
    public static string PreviousCheckpointDirectory(string runDirectory) => KeptDirectories(runDirectory, 2)[1];

    private string GeneratorStateBase64()
    {
        using var state = _generator.get_state();
        return Convert.ToBase64String(state.data<byte>().ToArray());
    }

    private void LoadCheckpoint()
    {
        var dir = CheckpointToResume(RunDirectory, Options.ResumeFrom);
        FileManifest.Verify(dir, $"Checkpoint '{dir}'" + (Options.ResumeFrom == ResumePoint.Latest && Directory.Exists(PreviousCheckpointDirectory(RunDirectory))
            ? " (resume from the previous one: --from previous, or TrainingOptions.ResumeFrom = Previous)" : ""));
        var state = OptionsJson.Load<TrainerState>(Path.Combine(dir, "state.json"));
        var model = StateDicts.Load(Path.Combine(dir, ModelFile));
        var ema = StateDicts.Load(Path.Combine(dir, EmaFile));
        var opt = StateDicts.Load(Path.Combine(dir, "optimizer.safetensors"));
        try
        {
            _weights.Load(model, Path.Combine(dir, ModelFile));
            _ema.Load(ema);
            _optimizer.LoadStateDict(opt);
        }
        finally
        {
            foreach (var t in model.Values.Concat(ema.Values).Concat(opt.Values)) t.Dispose();
        }
        Step = state.Step;
        _elapsedBefore = state.ElapsedSeconds;
        _lastLoss = state.LastLoss;
        using (var g = tensor(Convert.FromBase64String(state.GeneratorState)))
            _generator.set_state(g);
        TruncateMetrics(state.Step);
    }

    /// <summary>Drops metric lines written after the checkpoint (by a run that crashed), so the log matches the weights.</summary>
    private void TruncateMetrics(int step)
    {
        var path = Path.Combine(RunDirectory, "metrics.jsonl");
        if (!File.Exists(path)) return;
        var keep = File.ReadAllLines(path).Where(l =>
        {
            try { return JsonDocument.Parse(l).RootElement.GetProperty("step").GetInt32() <= step; }
            catch (JsonException) { return false; }
        });
        AtomicFile.WriteAllText(path, string.Concat(keep.Select(l => l + "\n")));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _optimizer.Dispose();
        _ema.Dispose();
        _weights.Dispose();
        _generator.Dispose();
        _permutation?.Dispose();
    }
}
