using Diffusion.Samplers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Diffusion.Server;

/// <summary>What <c>GET /v1/models</c> answers.</summary>
/// <param name="Models">The served models.</param>
/// <param name="Samplers">The samplers a request may name.</param>
/// <param name="Limits">The server's bounds on a request.</param>
public sealed record ModelsResponse(IReadOnlyList<ModelInfo> Models, IReadOnlyList<SamplerInfo> Samplers, RequestLimits Limits);

/// <summary>The bounds a request must keep (<see cref="ServerOptions"/>).</summary>
/// <param name="MaxCount">Most images per request.</param>
/// <param name="MaxSteps">Most sampling steps.</param>
/// <param name="MaxGuidance">Largest guidance scale.</param>
/// <param name="MaxPromptLength">Longest prompt, in characters.</param>
/// <param name="MaxBodyBytes">Largest body.</param>
/// <param name="TimeoutSeconds">Longest wait plus generation.</param>
public sealed record RequestLimits(int MaxCount, int MaxSteps, double MaxGuidance, int MaxPromptLength, long MaxBodyBytes, double TimeoutSeconds);

/// <summary>What <c>GET /health</c> answers.</summary>
/// <param name="Status">"ok".</param>
/// <param name="Models">Each model's queue counters.</param>
public sealed record HealthResponse(string Status, IReadOnlyDictionary<string, QueueStats> Models);

/// <summary>The routes.</summary>
internal static class Endpoints
{
    public static void Map(WebApplication app)
    {
        app.MapOpenApi("/openapi/{documentName}.json");

        app.MapGet("/health", (ServerState s) => Results.Json(
                new HealthResponse("ok", s.Models.ToDictionary(m => m.Key, m => m.Value.Queue.Stats)), ServerState.Json))
            .WithName("Health").WithSummary("Liveness and each model's queue counters.")
            .Produces<HealthResponse>();

        app.MapGet("/v1/models", (ServerState s) =>
            {
                var o = s.Options;
                var limits = new RequestLimits(o.MaxCount, o.MaxSteps, o.MaxGuidance, o.MaxPromptLength, o.MaxBodyBytes, o.RequestTimeout.TotalSeconds);
                var models = s.Models.Values.Select(m => m.Info).OrderBy(m => m.Name, StringComparer.Ordinal).ToArray();
                return Results.Json(new ModelsResponse(models, SamplerRegistry.All, limits), ServerState.Json);
            })
            .WithName("Models").WithSummary("The loaded models (configs, class names), the samplers and the request limits.")
            .Produces<ModelsResponse>().ProducesProblem(StatusCodes.Status401Unauthorized);

        app.MapPost("/v1/generate", GenerateHandler.Handle)
            .WithName("Generate")
            .WithSummary("Generate images. Answers JSON (base64 PNGs, the grid and the resolved parameters); with Accept: image/png the grid as PNG; "
                + "with Accept: text/event-stream progress events, then a result event.")
            .Accepts<GenerateBody>("application/json")
            .Produces<GenerateResponse>(StatusCodes.Status200OK, "application/json", "image/png", "text/event-stream")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        foreach (var (file, (bytes, type)) in WebPage.Files)
        {
            var route = file == "index.html" ? "/" : "/" + file;
            app.MapGet(route, () => Results.Bytes(bytes, type)).ExcludeFromDescription();
        }
    }
}
