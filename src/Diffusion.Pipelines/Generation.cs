using Diffusion.Core;
using Diffusion.Core.Imaging;
using Diffusion.Core.Training;
using Diffusion.Models;
using Diffusion.Samplers;
using Diffusion.Text.Encoders;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Pipelines;

/// <summary>One generation request, start to finish, on the pipeline's torch thread: validate, condition, sample batch
/// by batch, decode, collect.</summary>
internal static class Generation
{
    public static GenerationResult Run(PipelineComponents c, Device device, GenerationRequest r, IProgress<GenerationProgress>? progress, CancellationToken ct)
    {
        var labels = Validate(c, r);
        var prompts = ValidatePrompts(c, r, out var warning);
        if (warning is not null) progress?.Report(new GenerationProgress(0, 0, 0, 0, 0, r.Count) { Warning = warning });
        var sampler = r.SamplerInstance ?? SamplerRegistry.Create(r.Sampler);
        bool conditional = labels is not null || prompts is not null;
        double? guidance = conditional ? r.GuidanceScale : null;
        // Autocast covers the network's forward pass only; the guidance combination and the sampler's arithmetic stay float32.
        IDenoiser network = c.Autocast ? new AutocastDenoiser(c.Denoiser, device) : c.Denoiser;
        // Network calls of at most ChunkBytes of activations: guidance doubles the batch, and on glibc a block above
        // 64 MiB on this (non-main) thread is mapped and zeroed afresh on every allocation (ChunkedDenoiser).
        if (c.Denoiser is UNet unet) network = new ChunkedDenoiser(network, RowsPerCall(unet.Options));
        IDenoiser denoiser = network;
        if (conditional && (r.GuidanceScale != 1 || r.Guidance is not null))
            denoiser = new ClassifierFreeGuidance(network, r.GuidanceScale, c.Conditioner!, r.Guidance);
        var view = new DenoiserView(denoiser, c.Scheduler, c.ClipSample);
        var image = c.ImageShape;
        var latent = c.SampleShape;
        int batches = (r.Count + r.BatchSize - 1) / r.BatchSize;

        ct.ThrowIfCancellationRequested();
        using var outer = NewDisposeScope();
        var init = r.InitImage is null ? null : InitLatent(c, r, device);
        var recorder = r.TrajectoryEvery is int every ? new TrajectoryRecorder(every, denoised: c.Autoencoder is not null, maxImages: r.TrajectoryImages) : null;
        try
        {
            var parts = new List<Tensor>();
            using var generator = new Generator((ulong)r.Seed, CPU);
            for (int batch = 0, start = 0; batch < batches; batch++, start += r.BatchSize)
            {
                int n = Math.Min(r.BatchSize, r.Count - start);
                using var scope = NewDisposeScope();
                Condition condition;
                using (no_grad()) // a learned text encoder would otherwise record a graph
                    condition = labels is not null ? ((IConditioner<int>)c.Conditioner!).Encode(labels.Skip(start).Take(n).ToArray(), device)
                        : prompts is not null ? ((TextConditioner)c.Conditioner!).Encode(prompts.Skip(start).Take(n).ToArray(), device)
                        : c.Conditioner?.Unconditional(n, device) ?? Condition.None;
                int done = start, b = batch;
                var request = new SamplingRequest
                {
                    Shape = [n, latent[0], latent[1], latent[2]],
                    Steps = r.Steps,
                    Condition = condition,
                    Generator = generator,
                    Device = device,
                    InitImage = init?.expand(n, -1, -1, -1),
                    Strength = r.Strength,
                    InitialNoise = r.InitialNoise?.narrow(0, start, n),
                    OnStep = batch == 0 && recorder is not null ? Recorder(recorder, c.Autoencoder) : null,
                };
                var onStep = progress is null ? null : new SyncProgress<SamplingProgress>(p => progress.Report(new GenerationProgress(b + 1, batches, p.Step, p.Total, done + (p.Step == p.Total ? n : 0), r.Count)));
                var x = sampler.Sample(view, request, onStep, ct);
                if (c.Autoencoder is { } ae) x = ae.Decode(x);
                parts.Add(x.to(ScalarType.Float32).clamp(-1, 1).cpu().MoveToOuterDisposeScope());
            }
            var images = (parts.Count == 1 ? parts[0].alias() : cat(parts, 0)).DetachFromDisposeScope();
            var parameters = new ResolvedGeneration(r.Count, labels, sampler.Name, r.Steps, guidance, r.Seed, r.BatchSize,
                r.InitImage is null ? null : r.Strength, (int)image[2], (int)image[1], device.ToString(),
                c.Autocast ? "Autocast" : (c.Denoiser as UNet)?.ParameterType.ToString() ?? "Float32")
            {
                Prompts = prompts,
                Warnings = warning is null ? [] : [warning],
            };
            return new GenerationResult(images, parameters, recorder);
        }
        catch
        {
            recorder?.Dispose();
            throw;
        }
    }

    /// <summary>The largest activation of one network call, in bytes (float32): 32 MiB, half glibc's limit above which a
    /// non-main thread's allocations are mapped afresh.</summary>
    internal const long ChunkBytes = 32L << 20;

    /// <summary>Rows per network call so that its largest activation stays within <see cref="ChunkBytes"/>.</summary>
    internal static int RowsPerCall(UNetOptions o) => (int)Math.Clamp(ChunkBytes / (4 * UNetCost.LargestActivationPerImage(o)), 1, int.MaxValue);

    /// <summary>Checks the request against the model; returns the class of every image, or null when unconditional.</summary>
    private static int[]? Validate(PipelineComponents c, GenerationRequest r)
    {
        if (r.Count < 1) throw new DiffusionException($"Count must be at least 1, got {r.Count}.");
        if (r.BatchSize < 1) throw new DiffusionException($"BatchSize must be at least 1, got {r.BatchSize}.");
        int T = c.Scheduler.TrainSteps;
        if (r.Steps < 1 || r.Steps > T) throw new DiffusionException($"Steps must be between 1 and the schedule's {T} training steps, got {r.Steps}.");
        if (!(r.GuidanceScale >= 0) || double.IsInfinity(r.GuidanceScale)) throw new DiffusionException($"GuidanceScale must be a number ≥ 0, got {r.GuidanceScale}.");
        if (!(r.Strength > 0 && r.Strength <= 1)) throw new DiffusionException($"Strength must be in (0, 1], got {r.Strength}.");
        if (r.Strength < 1 && r.InitImage is null) throw new DiffusionException($"Strength {r.Strength} needs an InitImage to start from.");
        if (r.TrajectoryEvery is < 1) throw new DiffusionException($"TrajectoryEvery must be at least 1, got {r.TrajectoryEvery}.");
        if (r.TrajectoryImages < 1) throw new DiffusionException($"TrajectoryImages must be at least 1, got {r.TrajectoryImages}.");
        if (r.InitialNoise is { } noise)
        {
            var want = new long[] { r.Count, c.SampleShape[0], c.SampleShape[1], c.SampleShape[2] };
            if (!noise.shape.SequenceEqual(want))
                throw new DiffusionException($"InitialNoise must have shape ({string.Join(", ", want)}), got ({string.Join(", ", noise.shape)}).");
        }
        if (r.Classes is null || r.Classes.Count == 0) return null;
        if (c.Conditioner is null) throw new DiffusionException("This model is unconditional: it takes no classes.");
        if (c.Conditioner is TextConditioner) throw new DiffusionException("This model is text-conditional: it takes prompts, not classes; give Prompts (e.g. \"draw a seven\") instead of Classes.");
        if (c.Conditioner is not IConditioner<int> classes) throw new DiffusionException("This model is not class-conditional: it takes no classes.");
        int[] labels = r.Classes.Count == 1 ? Enumerable.Repeat(r.Classes[0], r.Count).ToArray()
            : r.Classes.Count == r.Count ? r.Classes.ToArray()
            : throw new DiffusionException($"Give one class for all images or one per image: got {r.Classes.Count} classes for {r.Count} images.");
        using var scope = NewDisposeScope();
        classes.Encode(labels.Distinct().ToArray(), CPU); // validates, naming the valid classes
        return labels;
    }

    /// <summary>Checks the prompts against the model; returns the prompt of every image, or null when there are none. A
    /// prompt longer than the tokenizer's rows gives one <paramref name="warning"/> naming the first such prompt (it is
    /// truncated, keeping its end token).</summary>
    private static string[]? ValidatePrompts(PipelineComponents c, GenerationRequest r, out string? warning)
    {
        warning = null;
        if (r.Prompts is null || r.Prompts.Count == 0) return null;
        if (c.Conditioner is not TextConditioner text)
            throw new DiffusionException("This model has no text conditioner: it takes no prompts" + (c.Conditioner is null ? "." : "; give Classes (e.g. 7) instead of Prompts."));
        if (r.Classes is { Count: > 0 }) throw new DiffusionException("Give Prompts or Classes, not both.");
        if (r.Prompts.Any(p => p is null)) throw new DiffusionException("A prompt is null; use \"\" for the unconditional (empty) prompt.");
        string[] prompts = r.Prompts.Count == 1 ? Enumerable.Repeat(r.Prompts[0], r.Count).ToArray()
            : r.Prompts.Count == r.Count ? r.Prompts.ToArray()
            : throw new DiffusionException($"Give one prompt for all images or one per image: got {r.Prompts.Count} prompts for {r.Count} images.");
        int max = text.Tokenizer.MaxLength;
        var longest = prompts.Distinct(StringComparer.Ordinal).Select(p => (Prompt: p, Tokens: text.Tokenizer.EncodeToIds(p).Count))
            .Where(p => p.Tokens > max).ToList();
        if (longest.Count > 0)
        {
            var (p, n) = longest[0];
            string shown = p.Length > 60 ? p[..57] + "..." : p;
            warning = $"{(longest.Count == 1 ? "A prompt is" : $"{longest.Count} prompts are")} longer than the model's {max} tokens and {(longest.Count == 1 ? "was" : "were")} truncated (\"{shown}\": {n} tokens).";
        }
        return prompts;
    }

    /// <summary>The init image in the denoiser's space, (1, C, h, w), checked against the model's image size.</summary>
    private static Tensor InitLatent(PipelineComponents c, GenerationRequest r, Device device)
    {
        var img = r.InitImage!;
        var shape = c.ImageShape;
        if (img.Width != shape[2] || img.Height != shape[1])
            throw new DiffusionException($"The init image is {img.Width}x{img.Height} pixels; this model draws {shape[2]}x{shape[1]}. Resize or crop it first.");
        var x = ImageTensors.FromImage(img, (int)shape[0]).to(device);
        return c.Autoencoder is { } ae ? ae.Encode(x) : x;
    }

    private static Action<SamplingStep> Recorder(TrajectoryRecorder recorder, IAutoencoder? autoencoder)
    {
        if (autoencoder is null) return recorder.Record;
        return step =>
        {
            using var scope = NewDisposeScope();
            var decoded = autoencoder.Decode(step.Denoised);
            recorder.Record(new SamplingStep(step.Step, step.Total, decoded, decoded));
        };
    }
}
