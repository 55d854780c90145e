using Diffusion.Pipelines;

namespace Diffusion.Server;

/// <summary>How a request is conditioned; requests of different kinds never share a batch.</summary>
internal enum ConditioningKind { None, Class, Prompt }

/// <summary>What must be equal for two requests to share one network batch: everything but the condition, count and seed.</summary>
internal sealed record BatchKey(string Sampler, int Steps, double Guidance, ConditioningKind Kind, bool Trajectory);

/// <summary>One validated request waiting for, or running on, a model's queue.</summary>
internal sealed class GenerationJob
{
    public required BatchKey Key { get; init; }

    public required int Count { get; init; }

    public int? Class { get; init; }

    public string? Prompt { get; init; }

    public required long Seed { get; init; }

    /// <summary>Fires when the client leaves or the request times out.</summary>
    public required CancellationToken Token { get; init; }

    /// <summary>Receives the batch's sampling progress (must not block: it is called on the torch thread).</summary>
    public IProgress<GenerationProgress>? Progress { get; init; }

    /// <summary>Completes with the job's images, or fails with the reason.</summary>
    public TaskCompletionSource<JobOutput> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The job's place in the waiting list while it waits (guarded by the queue's lock).</summary>
    internal LinkedListNode<GenerationJob>? Node { get; set; }
}

/// <summary>One request's share of a batch, encoded: no tensors leave the torch thread.</summary>
/// <param name="Pngs">One PNG per image.</param>
/// <param name="Grid">The request's images in one grid PNG.</param>
/// <param name="Gif">The denoising animation, when asked for.</param>
/// <param name="Parameters">What the request's images were generated with.</param>
/// <param name="BatchRequests">How many requests shared the network batch (1 = ran alone).</param>
internal sealed record JobOutput(IReadOnlyList<byte[]> Pngs, byte[] Grid, byte[]? Gif, ResolvedGeneration Parameters, int BatchRequests);
