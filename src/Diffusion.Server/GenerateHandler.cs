using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Diffusion.Core;
using Diffusion.Pipelines;
using Diffusion.Samplers;
using Microsoft.AspNetCore.Http;

namespace Diffusion.Server;

/// <summary>The answer of <c>POST /v1/generate</c> as JSON.</summary>
/// <param name="Model">The model's name.</param>
/// <param name="Images">One base64 PNG per image.</param>
/// <param name="Grid">All images in one base64 PNG grid.</param>
/// <param name="Gif">The denoising animation as a base64 GIF, when <see cref="GenerateBody.Trajectory"/> was set.</param>
/// <param name="Parameters">What the images were generated with.</param>
/// <param name="BatchRequests">How many requests shared the network batch (1 = ran alone).</param>
/// <param name="Milliseconds">Time from admission to answer.</param>
public sealed record GenerateResponse(string Model, IReadOnlyList<string> Images, string Grid, string? Gif, ResolvedGeneration Parameters,
    int BatchRequests, double Milliseconds);

/// <summary><c>POST /v1/generate</c>: read and check the body, queue the job, answer JSON, a PNG or a server-sent event stream.</summary>
internal static class GenerateHandler
{
    public static async Task Handle(HttpContext context, ServerState state)
    {
        var clock = Stopwatch.StartNew();
        var body = await ReadBody(context.Request, state.Options);
        var (model, job, timeout, linked) = Prepare(context, state, body);
        using var _ = timeout;
        using var __ = linked;
        if (!model.Queue.TryEnqueue(job))
        {
            context.Response.Headers.RetryAfter = "1";
            throw new ProblemException(StatusCodes.Status429TooManyRequests, "Queue full",
                $"Model '{model.Info.Name}' has {state.Options.QueueCapacity} requests waiting or running; try again shortly.");
        }
        string accept = context.Request.Headers.Accept.ToString();
        if (accept.Contains("text/event-stream", StringComparison.OrdinalIgnoreCase))
        {
            await Stream(context, state, model, job, timeout, clock);
            return;
        }
        var output = await Await(job, timeout, context, state);
        if (output is null) return; // the client left
        if (accept.Contains("image/png", StringComparison.OrdinalIgnoreCase) && !accept.Contains("application/json", StringComparison.OrdinalIgnoreCase))
        {
            context.Response.ContentType = "image/png";
            context.Response.Headers["X-Diffusion-Seed"] = output.Parameters.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await context.Response.Body.WriteAsync(output.Grid, context.RequestAborted);
            return;
        }
        await context.Response.WriteAsJsonAsync(Response(model, output, clock), ServerState.Json, context.RequestAborted);
    }

    private static GenerateResponse Response(ServedModel model, JobOutput o, Stopwatch clock)
        => new(model.Info.Name, o.Pngs.Select(Convert.ToBase64String).ToArray(), Convert.ToBase64String(o.Grid),
            o.Gif is null ? null : Convert.ToBase64String(o.Gif), o.Parameters, o.BatchRequests, Math.Round(clock.Elapsed.TotalMilliseconds, 1));

    /// <summary>The job's output, or null when the client left; a timeout or a refusal by the pipeline is thrown as a problem.</summary>
    private static async Task<JobOutput?> Await(GenerationJob job, CancellationTokenSource timeout, HttpContext context, ServerState state)
    {
        try
        {
            return await job.Done.Task.WaitAsync(job.Token);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return null;
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            context.Response.Headers.RetryAfter = "5";
            throw new ProblemException(StatusCodes.Status503ServiceUnavailable, "Timed out",
                $"The request did not finish within {state.Options.RequestTimeout.TotalSeconds:0.###} s (waiting and generating); try fewer images or steps, or later.");
        }
        catch (OperationCanceledException)
        {
            throw new ProblemException(StatusCodes.Status503ServiceUnavailable, "Shutting down", "The server is stopping.");
        }
        catch (DiffusionException e)
        {
            throw ProblemException.BadRequest(e.Message);
        }
    }

    /// <summary>Server-sent events: <c>progress</c> per sampling step, then one <c>result</c> (the JSON answer) or <c>error</c>
    /// (a problem-details object).</summary>
    private static async Task Stream(HttpContext context, ServerState state, ServedModel model, GenerationJob job, CancellationTokenSource timeout, Stopwatch clock)
    {
        var progress = (ChannelProgress)job.Progress!;
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        await response.Body.FlushAsync(context.RequestAborted);
        var done = Await(job, timeout, context, state);
        try
        {
            while (!done.IsCompleted)
            {
                var next = progress.Reader.WaitToReadAsync(job.Token).AsTask();
                await Task.WhenAny(done, next);
                while (progress.Reader.TryRead(out var p))
                    await Event(response, "progress", JsonSerializer.Serialize(p, ServerState.Json), context.RequestAborted);
            }
            var output = await done;
            if (output is null) return;
            await Event(response, "result", JsonSerializer.Serialize(Response(model, output, clock), ServerState.Json), context.RequestAborted);
        }
        catch (ProblemException e)
        {
            var problem = new { type = "about:blank", title = e.Title, status = e.Status, detail = e.Message };
            await Event(response, "error", JsonSerializer.Serialize(problem, ServerState.Json), context.RequestAborted);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested) { }
    }

    private static async Task Event(HttpResponse response, string name, string json, CancellationToken ct)
    {
        await response.WriteAsync($"event: {name}\ndata: {json}\n\n", Encoding.UTF8, ct);
        await response.Body.FlushAsync(ct);
    }

    /// <summary>Reads the body into <see cref="GenerateBody"/>: JSON only, within the size limit, no unknown fields.</summary>
    private static async Task<GenerateBody> ReadBody(HttpRequest request, ServerOptions options)
    {
        if (request.ContentType is not { } type || !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            throw new ProblemException(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type", "Send the request as JSON (Content-Type: application/json).");
        if (request.ContentLength > options.MaxBodyBytes) throw TooLarge(options);
        try
        {
            return await JsonSerializer.DeserializeAsync<GenerateBody>(request.Body, GenerateBody.Json, request.HttpContext.RequestAborted)
                ?? throw ProblemException.BadRequest("The body is JSON null; send an object such as {\"model\": \"mnist\", \"class\": 7}.");
        }
        catch (JsonException e)
        {
            throw ProblemException.BadRequest("Malformed request: " + e.Message);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge(options);
        }
    }

    private static ProblemException TooLarge(ServerOptions options)
        => new(StatusCodes.Status413PayloadTooLarge, "Request too large", $"The body is larger than {options.MaxBodyBytes} bytes.");

    /// <summary>Checks <paramref name="b"/> against the model and the server's limits and builds the job.</summary>
    private static (ServedModel, GenerationJob, CancellationTokenSource, CancellationTokenSource) Prepare(HttpContext context, ServerState state, GenerateBody b)
    {
        var o = state.Options;
        ServedModel model;
        if (b.Model is null)
        {
            if (state.Models.Count != 1) throw ProblemException.BadRequest($"Name the model: one of {state.ModelNames}.");
            model = state.Models.Values.Single();
        }
        else if (!state.Models.TryGetValue(b.Model, out model!))
            throw new ProblemException(StatusCodes.Status404NotFound, "Unknown model", $"No model is called '{Clip(b.Model)}'. Served: {state.ModelNames}.");
        var info = model.Info;
        if (b.Count < 1 || b.Count > o.MaxCount) throw ProblemException.BadRequest($"count must be between 1 and {o.MaxCount}, got {b.Count}.");
        int maxSteps = Math.Min(o.MaxSteps, info.TrainSteps);
        if (b.Steps < 1 || b.Steps > maxSteps) throw ProblemException.BadRequest($"steps must be between 1 and {maxSteps}, got {b.Steps}.");
        if (!double.IsFinite(b.Guidance) || b.Guidance < 0 || b.Guidance > o.MaxGuidance)
            throw ProblemException.BadRequest($"guidance must be between 0 and {o.MaxGuidance}, got {b.Guidance}.");
        if (b.Seed < 0) throw ProblemException.BadRequest($"seed must be at least 0, got {b.Seed}.");
        string sampler;
        try { sampler = SamplerRegistry.Describe(b.Sampler).Name; }
        catch (DiffusionException) { throw ProblemException.BadRequest($"Unknown sampler '{Clip(b.Sampler)}'. Known samplers: {SamplerRegistry.KnownNames}."); }
        if (b.Class is not null && b.Prompt is not null) throw ProblemException.BadRequest("Give a class or a prompt, not both.");
        var kind = ConditioningKind.None;
        if (b.Class is int cls)
        {
            if (model.Kind != ConditioningKind.Class) throw ProblemException.BadRequest($"Model '{info.Name}' takes no classes{(model.Kind == ConditioningKind.Prompt ? "; give a prompt" : "")}.");
            int k = info.Classes?.Count ?? 0;
            if (cls < 0 || cls >= k) throw ProblemException.BadRequest($"class must be between 0 and {k - 1} for model '{info.Name}', got {cls}.");
            kind = ConditioningKind.Class;
        }
        if (b.Prompt is { } prompt)
        {
            if (prompt.Length == 0 || prompt.Length > o.MaxPromptLength)
                throw ProblemException.BadRequest($"prompt must have 1 to {o.MaxPromptLength} characters, got {prompt.Length}.");
            // Models without text refuse prompts in the pipeline (answered 400); text models take them.
            kind = ConditioningKind.Prompt;
        }
        var timeout = new CancellationTokenSource(o.RequestTimeout);
        var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, timeout.Token);
        bool stream = context.Request.Headers.Accept.ToString().Contains("text/event-stream", StringComparison.OrdinalIgnoreCase);
        var job = new GenerationJob
        {
            Key = new BatchKey(sampler, b.Steps, b.Guidance, kind, b.Trajectory),
            Count = b.Count,
            Class = b.Class,
            Prompt = b.Prompt,
            Seed = b.Seed,
            Token = linked.Token,
            Progress = stream ? new ChannelProgress() : null,
        };
        return (model, job, timeout, linked);
    }

    private static string Clip(string s) => s.Length <= 64 ? s : s[..64] + "…";

    /// <summary>Progress reports into a small channel that drops the oldest report when the client reads slowly.</summary>
    internal sealed class ChannelProgress : IProgress<GenerationProgress>
    {
        private readonly Channel<GenerationProgress> _channel = Channel.CreateBounded<GenerationProgress>(
            new BoundedChannelOptions(16) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });

        public ChannelReader<GenerationProgress> Reader => _channel.Reader;

        public void Report(GenerationProgress value) => _channel.Writer.TryWrite(value);
    }
}
