using Diffusion.Core;
using Diffusion.Core.Imaging;
using Diffusion.Pipelines;
using SixLabors.ImageSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Server;

/// <summary>
/// A model's bounded queue and its one worker. Admission counts the requests waiting or running and refuses the one
/// over <see cref="ServerOptions.QueueCapacity"/> (answered 429). The worker takes the oldest waiting request, and with
/// batching on, every other waiting request with the same <see cref="BatchKey"/> (up to
/// <see cref="ServerOptions.MaxBatchImages"/>, after a short gather window when the model was idle), and runs them as one
/// <see cref="GenerationRequest"/> on the pipeline's torch thread.
/// </summary>
/// <remarks>
/// Same images batched or alone: each request's starting noise is drawn from its own seed
/// (<see cref="GenerationRequest.InitialNoise"/>), exactly as the pipeline draws it for that request alone, so
/// deterministic samplers give each request the images it would get alone, up to floating-point rounding of a larger
/// network batch. Stochastic samplers (which draw fresh noise every step from one generator) and trajectory requests
/// (whose GIF would show the whole batch) always run alone.
/// </remarks>
internal sealed class GenerationQueue : IAsyncDisposable
{
    /// <summary>Samplers that draw noise at every step: their later draws cannot be split per request, so they run alone.</summary>
    private static readonly HashSet<string> Stochastic = new(StringComparer.OrdinalIgnoreCase) { "ddpm", "euler_a" };

    private readonly DiffusionPipeline _pipeline;
    private readonly ServerOptions _options;
    private readonly LinkedList<GenerationJob> _waiting = new();
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _worker;
    private int _admitted;   // waiting + running
    private int _running;
    private long _completed, _cancelled, _rejected, _failed, _batches, _cancelledBatches;

    public GenerationQueue(DiffusionPipeline pipeline, ServerOptions options)
    {
        _pipeline = pipeline;
        _options = options;
        _worker = Task.Run(WorkAsync);
    }

    /// <summary>Counters for <c>GET /health</c>.</summary>
    public QueueStats Stats
    {
        get
        {
            lock (_lock)
                return new QueueStats(_waiting.Count, Volatile.Read(ref _running), Interlocked.Read(ref _completed), Interlocked.Read(ref _cancelled),
                    Interlocked.Read(ref _rejected), Interlocked.Read(ref _failed), Interlocked.Read(ref _batches), Interlocked.Read(ref _cancelledBatches));
        }
    }

    /// <summary>True when the job's requests may share a batch with others.</summary>
    public static bool Batchable(BatchKey key) => !key.Trajectory && !Stochastic.Contains(key.Sampler);

    /// <summary>Admits <paramref name="job"/>, or returns false when the queue is full.</summary>
    public bool TryEnqueue(GenerationJob job)
    {
        if (Interlocked.Increment(ref _admitted) > _options.QueueCapacity || _stop.IsCancellationRequested)
        {
            Interlocked.Decrement(ref _admitted);
            Interlocked.Increment(ref _rejected);
            return false;
        }
        lock (_lock) job.Node = _waiting.AddLast(job);
        // A job given up while waiting leaves the queue at once (and frees its place).
        job.Token.Register(() =>
        {
            bool removed;
            lock (_lock)
            {
                removed = job.Node?.List is not null;
                if (removed) { _waiting.Remove(job.Node!); job.Node = null; }
            }
            if (removed)
            {
                Interlocked.Decrement(ref _admitted);
                Interlocked.Increment(ref _cancelled);
                job.Done.TrySetCanceled(job.Token);
            }
        });
        _signal.Release();
        return true;
    }

    private async Task WorkAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try { await _signal.WaitAsync(_stop.Token); }
            catch (OperationCanceledException) { break; }
            var batch = Take(out bool wasIdle);
            if (batch is null) continue;   // the job was cancelled meanwhile
            if (_options.Batching && Batchable(batch[0].Key) && wasIdle && _options.GatherWindow > TimeSpan.Zero && Images(batch) < _options.MaxBatchImages)
            {
                try { await Task.Delay(_options.GatherWindow, _stop.Token); }
                catch (OperationCanceledException) { }
                TakeCompatible(batch);
            }
            await RunAsync(batch);
        }
    }

    /// <summary>The oldest waiting job, plus the waiting jobs that can share its batch.</summary>
    private List<GenerationJob>? Take(out bool wasIdle)
    {
        lock (_lock)
        {
            wasIdle = _waiting.Count == 1;
            if (_waiting.First is not { } first) return null;
            _waiting.RemoveFirst();
            first.Value.Node = null;
            var batch = new List<GenerationJob> { first.Value };
            TakeCompatibleLocked(batch);
            return batch;
        }
    }

    private void TakeCompatible(List<GenerationJob> batch)
    {
        lock (_lock) TakeCompatibleLocked(batch);
    }

    private void TakeCompatibleLocked(List<GenerationJob> batch)
    {
        var key = batch[0].Key;
        if (!_options.Batching || !Batchable(key)) return;
        int images = Images(batch);
        for (var node = _waiting.First; node is not null;)
        {
            var next = node.Next;
            if (node.Value.Key == key && images + node.Value.Count <= _options.MaxBatchImages)
            {
                _waiting.Remove(node);
                node.Value.Node = null;
                batch.Add(node.Value);
                images += node.Value.Count;
            }
            node = next;
        }
    }

    private static int Images(List<GenerationJob> batch) => batch.Sum(j => j.Count);

    /// <summary>Runs <paramref name="jobs"/> as one batch; the batch is cancelled once every one of its clients has gone.</summary>
    private async Task RunAsync(List<GenerationJob> jobs)
    {
        Interlocked.Add(ref _running, jobs.Count);
        Interlocked.Increment(ref _batches);
        using var batchCts = new CancellationTokenSource();
        int live = jobs.Count;
        var registrations = jobs.Select(j => j.Token.Register(() => { if (Interlocked.Decrement(ref live) == 0) batchCts.Cancel(); })).ToList();
        try
        {
            var outputs = await RunOrSplitAsync(jobs, batchCts.Token);
            for (int i = 0; i < jobs.Count; i++)
            {
                if (outputs[i] is not { } output) continue;   // refused alone: already failed
                if (jobs[i].Done.TrySetResult(output)) Interlocked.Increment(ref _completed);
                else Interlocked.Increment(ref _cancelled);
            }
        }
        catch (OperationCanceledException)
        {
            Interlocked.Increment(ref _cancelledBatches);
            Interlocked.Add(ref _cancelled, jobs.Count);
            foreach (var j in jobs) j.Done.TrySetCanceled();
        }
        catch (Exception e)
        {
            Interlocked.Add(ref _failed, jobs.Count);
            foreach (var j in jobs) j.Done.TrySetException(e);
        }
        finally
        {
            foreach (var r in registrations) r.Dispose();
            Interlocked.Add(ref _running, -jobs.Count);
            Interlocked.Add(ref _admitted, -jobs.Count);
        }
    }

    /// <summary>The batch; when the pipeline refuses a shared batch, each request alone, so one bad request fails only itself.</summary>
    private async Task<JobOutput?[]> RunOrSplitAsync(List<GenerationJob> jobs, CancellationToken ct)
    {
        try { return await _pipeline.RunOnTorchThread(_ => Execute(jobs, ct), ct); }
        catch (DiffusionException) when (jobs.Count > 1)
        {
            var outputs = new JobOutput?[jobs.Count];
            for (int i = 0; i < jobs.Count; i++)
            {
                var job = jobs[i];
                try { outputs[i] = (await _pipeline.RunOnTorchThread(_ => Execute([job], ct), ct))[0]; }
                catch (DiffusionException e)
                {
                    job.Done.TrySetException(e);
                    Interlocked.Increment(ref _failed);
                }
            }
            return outputs;
        }
    }

    /// <summary>On the torch thread: one generation for all <paramref name="jobs"/>, split and encoded per job.</summary>
    private JobOutput[] Execute(IReadOnlyList<GenerationJob> jobs, CancellationToken ct)
    {
        using var scope = NewDisposeScope();
        var key = jobs[0].Key;
        var shape = _pipeline.Components.SampleShape;
        int total = jobs.Sum(j => j.Count);
        // Each request's starting noise from its own seed, as the pipeline would draw it for that request alone.
        Tensor? noise = null;
        if (Batchable(key))
        {
            var parts = jobs.Select(j =>
            {
                using var g = new Generator((ulong)j.Seed, CPU);
                return randn([j.Count, shape[0], shape[1], shape[2]], dtype: ScalarType.Float32, generator: g);
            }).ToList();
            noise = parts.Count == 1 ? parts[0] : cat(parts, 0);
        }
        var request = new GenerationRequest
        {
            Count = total,
            Classes = key.Kind == ConditioningKind.Class ? jobs.SelectMany(j => Enumerable.Repeat(j.Class!.Value, j.Count)).ToArray() : null,
            Prompts = key.Kind == ConditioningKind.Prompt ? jobs.SelectMany(j => Enumerable.Repeat(j.Prompt!, j.Count)).ToArray() : null,
            Sampler = key.Sampler,
            Steps = key.Steps,
            GuidanceScale = key.Guidance,
            Seed = jobs[0].Seed,
            BatchSize = Math.Max(total, 1),
            InitialNoise = noise,
            TrajectoryEvery = key.Trajectory ? Math.Max(1, key.Steps / 25) : null,
            TrajectoryImages = total,
        };
        var progress = new FanOutProgress(jobs);
        // Called on the torch thread, so the pipeline runs it inline (no queueing behind ourselves).
        using var result = _pipeline.Generate(request, progress, ct);
        var outputs = new JobOutput[jobs.Count];
        for (int i = 0, offset = 0; i < jobs.Count; offset += jobs[i].Count, i++)
        {
            var job = jobs[i];
            var pngs = Enumerable.Range(offset, job.Count).Select(result.ToPng).ToArray();
            byte[] grid;
            using (var slice = result.Images.narrow(0, offset, job.Count))
            using (var image = ImageGrid.ToImage(slice))
            using (var stream = new MemoryStream())
            {
                image.SaveAsPng(stream);
                grid = stream.ToArray();
            }
            var parameters = result.Parameters with
            {
                Count = job.Count,
                Classes = result.Parameters.Classes is null ? null : Enumerable.Repeat(job.Class!.Value, job.Count).ToArray(),
                Seed = job.Seed,
            };
            outputs[i] = new JobOutput(pngs, grid, key.Trajectory && result.HasTrajectory ? Gif(result) : null, parameters, jobs.Count);
        }
        return outputs;
    }

    /// <summary>The result's trajectory as GIF bytes (the pipeline writes GIFs to files only: through a temporary file).</summary>
    private static byte[] Gif(GenerationResult result)
    {
        var path = Path.Combine(Path.GetTempPath(), $"diffusion-server-{Guid.NewGuid():N}.gif");
        try
        {
            result.SaveGif(path);
            return File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Stops the worker after the running batch; waiting requests are cancelled.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested) return;
        _stop.Cancel();
        List<GenerationJob> left;
        lock (_lock)
        {
            left = [.. _waiting];
            _waiting.Clear();
        }
        foreach (var j in left) j.Done.TrySetCanceled();
        await _worker;
        _stop.Dispose();
        _signal.Dispose();
    }

    /// <summary>Hands the batch's progress to each of its requests.</summary>
    private sealed class FanOutProgress(IReadOnlyList<GenerationJob> jobs) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value)
        {
            foreach (var j in jobs) j.Progress?.Report(value);
        }
    }
}

/// <summary>A model queue's counters since start.</summary>
/// <param name="Waiting">Requests waiting for the model.</param>
/// <param name="Running">Requests in the batch being generated.</param>
/// <param name="Completed">Requests answered with images.</param>
/// <param name="Cancelled">Requests whose client left or timed out.</param>
/// <param name="Rejected">Requests refused because the queue was full.</param>
/// <param name="Failed">Requests the pipeline refused.</param>
/// <param name="Batches">Network batches started.</param>
/// <param name="CancelledBatches">Batches stopped because all their clients had gone.</param>
public sealed record QueueStats(int Waiting, int Running, long Completed, long Cancelled, long Rejected, long Failed, long Batches, long CancelledBatches);
