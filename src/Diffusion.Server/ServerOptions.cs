using Diffusion.Core;
using Diffusion.Core.Training;

namespace Diffusion.Server;

/// <summary>
/// Everything <see cref="DiffusionServer"/> needs: where the models are, where to listen, and the limits that keep one
/// client from taking the server down. Immutable; <see cref="Validate"/> checks it before anything starts.
/// </summary>
public sealed record ServerOptions
{
    /// <summary>The folder whose sub-folders are model folders (<c>model_index.json</c>); each is served under its folder
    /// name. A folder that is itself a model folder is served alone. Required.</summary>
    public required string ModelsDirectory { get; init; }

    /// <summary>The address to listen on. Default "127.0.0.1" (loopback only: put a reverse proxy in front for the network).</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>TCP port; 0 picks a free one (see <see cref="DiffusionServer.Address"/>). Default 8080.</summary>
    public int Port { get; init; } = 8080;

    /// <summary>When set, every <c>/v1/</c> call needs it in the <c>X-API-Key</c> header (or <c>Authorization: Bearer</c>);
    /// compared in constant time. Default null (no key).</summary>
    public string? ApiKey { get; init; }

    /// <summary>Origins allowed to call the API from a browser (CORS); empty (default) sends no CORS headers, so only the
    /// page served by the server itself can call it.</summary>
    public IReadOnlyList<string> CorsOrigins { get; init; } = [];

    /// <summary>Device the models run on: "auto", "cpu", "cuda" or "cuda:N". Default "auto".</summary>
    public string Device { get; init; } = "auto";

    /// <summary>The networks' dtype while sampling. Default <see cref="Precision.Auto"/>.</summary>
    public Precision Precision { get; init; } = Precision.Auto;

    /// <summary>Most images one request may ask for. Default 16.</summary>
    public int MaxCount { get; init; } = 16;

    /// <summary>Most sampling steps one request may ask for (the model's own training steps also bound it). Default 200.</summary>
    public int MaxSteps { get; init; } = 200;

    /// <summary>Largest classifier-free guidance scale accepted; the smallest is 0. Default 20.</summary>
    public double MaxGuidance { get; init; } = 20;

    /// <summary>Longest prompt accepted, in characters. Default 500.</summary>
    public int MaxPromptLength { get; init; } = 500;

    /// <summary>Largest request body in bytes; a larger one is answered 413. Default 16 KiB.</summary>
    public long MaxBodyBytes { get; init; } = 16 * 1024;

    /// <summary>Requests per model that may wait or run at once; one more is answered 429. Default 32.</summary>
    public int QueueCapacity { get; init; } = 32;

    /// <summary>Longest time a request may wait and run; then it is cancelled and answered 503. Default 120 s.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Coalesce waiting requests with the same model and settings into one network batch. Default true.</summary>
    public bool Batching { get; init; } = true;

    /// <summary>Most images in one coalesced batch. Default 64.</summary>
    public int MaxBatchImages { get; init; } = 64;

    /// <summary>How long an idle model waits after a first request for others to join its batch. Default 5 ms.</summary>
    public TimeSpan GatherWindow { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>Log requests and startup to the console (warnings only otherwise). Default false.</summary>
    public bool ConsoleLog { get; init; }

    /// <summary>Checks every limit.</summary>
    /// <exception cref="DiffusionException">A value is out of range or the models folder does not exist.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ModelsDirectory) || !Directory.Exists(ModelsDirectory))
            throw new DiffusionException($"The models folder '{ModelsDirectory}' does not exist.");
        if (!System.Net.IPAddress.TryParse(Host, out _)) throw new DiffusionException($"Host must be an IP address (e.g. 127.0.0.1 or 0.0.0.0), got '{Host}'.");
        if (Port is < 0 or > 65535) throw new DiffusionException($"Port must be between 0 and 65535, got {Port}.");
        if (ApiKey is { Length: 0 }) throw new DiffusionException("The API key is empty.");
        if (MaxCount < 1) throw new DiffusionException($"MaxCount must be at least 1, got {MaxCount}.");
        if (MaxSteps < 1) throw new DiffusionException($"MaxSteps must be at least 1, got {MaxSteps}.");
        if (!(MaxGuidance >= 0) || double.IsInfinity(MaxGuidance)) throw new DiffusionException($"MaxGuidance must be a finite number ≥ 0, got {MaxGuidance}.");
        if (MaxPromptLength < 1) throw new DiffusionException($"MaxPromptLength must be at least 1, got {MaxPromptLength}.");
        if (MaxBodyBytes < 256) throw new DiffusionException($"MaxBodyBytes must be at least 256, got {MaxBodyBytes}.");
        if (QueueCapacity < 1) throw new DiffusionException($"QueueCapacity must be at least 1, got {QueueCapacity}.");
        if (RequestTimeout <= TimeSpan.Zero) throw new DiffusionException($"RequestTimeout must be positive, got {RequestTimeout}.");
        if (MaxBatchImages < MaxCount) throw new DiffusionException($"MaxBatchImages ({MaxBatchImages}) must be at least MaxCount ({MaxCount}).");
        if (GatherWindow < TimeSpan.Zero) throw new DiffusionException($"GatherWindow must not be negative, got {GatherWindow}.");
    }
}
