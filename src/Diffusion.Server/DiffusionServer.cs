using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Diffusion.Core;
using Diffusion.Pipelines;
using Diffusion.Samplers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Diffusion.Server;

/// <summary>The loaded models and options every handler sees.</summary>
internal sealed class ServerState(ServerOptions options, IReadOnlyDictionary<string, ServedModel> models)
{
    /// <summary>How answers are written: web names, enums as strings, nulls left out.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
    };

    public ServerOptions Options { get; } = options;

    public IReadOnlyDictionary<string, ServedModel> Models { get; } = models;

    public string ModelNames => string.Join(", ", Models.Keys.Order(StringComparer.Ordinal));
}

/// <summary>
/// The REST API and web page over the models of one folder: <c>POST /v1/generate</c>, <c>GET /v1/models</c>,
/// <c>GET /health</c>, <c>GET /openapi/v1.json</c> and the page at <c>GET /</c> (docs/serving.md). Models load once at
/// start; each request is queued to its model's torch thread, with the limits of <see cref="ServerOptions"/>.
/// </summary>
/// <example>
/// <code>
/// await using var server = await DiffusionServer.StartAsync(new ServerOptions { ModelsDirectory = "models", Port = 8080 });
/// Console.WriteLine(server.Address);
/// await server.WaitForShutdownAsync();
/// </code>
/// </example>
public sealed class DiffusionServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ServerState _state;
    private bool _disposed;

    private DiffusionServer(WebApplication app, ServerState state, Uri address)
    {
        _app = app;
        _state = state;
        Address = address;
    }

    /// <summary>The address the server listens on (with the actual port when <see cref="ServerOptions.Port"/> was 0).</summary>
    public Uri Address { get; }

    /// <summary>The options it runs with.</summary>
    public ServerOptions Options => _state.Options;

    /// <summary>The served models, by name.</summary>
    public IReadOnlyList<ModelInfo> Models => _state.Models.Values.Select(m => m.Info).OrderBy(m => m.Name, StringComparer.Ordinal).ToArray();

    /// <summary>Each model's queue counters, by model name.</summary>
    public IReadOnlyDictionary<string, QueueStats> Stats => _state.Models.ToDictionary(m => m.Key, m => m.Value.Queue.Stats);

    /// <summary>The model folders <paramref name="directory"/> holds: itself when it is one, else each sub-folder that is one.</summary>
    /// <exception cref="DiffusionException">The folder does not exist or holds no model folder.</exception>
    public static IReadOnlyList<string> FindModelFolders(string directory)
    {
        if (!Directory.Exists(directory)) throw new DiffusionException($"The models folder '{directory}' does not exist.");
        if (PipelineFolder.IsModelFolder(directory)) return [directory];
        var folders = Directory.GetDirectories(directory).Where(PipelineFolder.IsModelFolder).Order(StringComparer.Ordinal).ToArray();
        if (folders.Length == 0)
            throw new DiffusionException($"'{directory}' holds no model folder (a folder with {PipelineFolder.IndexFile}, e.g. a run's model/ folder).");
        return folders;
    }

    /// <summary>Loads every model of <see cref="ServerOptions.ModelsDirectory"/> and starts listening.</summary>
    /// <exception cref="DiffusionException">The options are invalid, a model does not load, or the port cannot be opened.</exception>
    public static async Task<DiffusionServer> StartAsync(ServerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var models = new Dictionary<string, ServedModel>(StringComparer.Ordinal);
        try
        {
            foreach (var folder in FindModelFolders(options.ModelsDirectory))
            {
                cancellationToken.ThrowIfCancellationRequested();
                var model = ServedModel.Load(folder, options);
                models[model.Info.Name] = model;
            }
            var state = new ServerState(options, models);
            var app = Build(state);
            try { await app.StartAsync(cancellationToken); }
            catch (IOException e) { await app.DisposeAsync(); throw new DiffusionException($"Cannot listen on {options.Host}:{options.Port}: {e.Message}"); }
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new DiffusionServer(app, state, new Uri(address.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal)));
        }
        catch
        {
            foreach (var m in models.Values) await m.DisposeAsync();
            throw;
        }
    }

    private static WebApplication Build(ServerState state)
    {
        var o = state.Options;
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        if (o.ConsoleLog) builder.Logging.AddSimpleConsole(c => c.SingleLine = true).SetMinimumLevel(LogLevel.Information);
        builder.WebHost.UseKestrel(k =>
        {
            k.Listen(IPAddress.Parse(o.Host), o.Port);
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = o.MaxBodyBytes;
            k.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
        });
        builder.Services.AddProblemDetails();
        builder.Services.AddOpenApi(d => d.AddDocumentTransformer((doc, _, _) =>
        {
            doc.Info.Title = "Diffusion server";
            doc.Info.Description = "Generate images with the diffusion models of one folder (docs/serving.md).";
            return Task.CompletedTask;
        }));
        if (o.CorsOrigins.Count > 0)
            builder.Services.AddCors(c => c.AddDefaultPolicy(p => p.WithOrigins([.. o.CorsOrigins]).WithMethods("GET", "POST").WithHeaders("Content-Type", "Accept", ApiKeyCheck.Header, "Authorization")));
        builder.Services.AddSingleton(state);

        var app = builder.Build();
        app.UseExceptionHandler(new ExceptionHandlerOptions { StatusCodeSelector = e => e is BadHttpRequestException b ? b.StatusCode : 500 });
        app.UseStatusCodePages();
        app.Use(Problems);
        app.Use(SecurityHeaders);
        if (o.CorsOrigins.Count > 0) app.UseCors();
        if (o.ApiKey is { } key)
        {
            var check = new ApiKeyCheck(key);
            app.Use(async (context, next) =>
            {
                if (context.Request.Path.StartsWithSegments("/v1") && !HttpMethods.IsOptions(context.Request.Method) && !check.Allows(context.Request))
                {
                    context.Response.Headers.WWWAuthenticate = "Bearer";
                    await WriteProblem(context, StatusCodes.Status401Unauthorized, "Unauthorized", $"This server needs an API key in the {ApiKeyCheck.Header} header.");
                    return;
                }
                await next(context);
            });
        }
        Endpoints.Map(app);
        return app;
    }

    /// <summary>Turns a <see cref="ProblemException"/> from a handler into its status and a problem-details body.</summary>
    private static async Task Problems(HttpContext context, RequestDelegate next)
    {
        try { await next(context); }
        catch (ProblemException e) when (!context.Response.HasStarted)
        {
            await WriteProblem(context, e.Status, e.Title, e.Message);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client left: nobody to answer.
        }
    }

    internal static Task WriteProblem(HttpContext context, int status, string title, string detail)
    {
        context.Response.StatusCode = status;
        return Results.Problem(detail: detail, statusCode: status, title: title).ExecuteAsync(context);
    }

    private static Task SecurityHeaders(HttpContext context, RequestDelegate next)
    {
        var h = context.Response.Headers;
        h.XContentTypeOptions = "nosniff";
        h.XFrameOptions = "DENY";
        h.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";
        h["Referrer-Policy"] = "no-referrer";
        return next(context);
    }

    /// <summary>Waits until the host stops (Ctrl-C, SIGTERM) or <paramref name="cancellationToken"/> fires.</summary>
    public async Task WaitForShutdownAsync(CancellationToken cancellationToken = default)
    {
        try { await _app.WaitForShutdownAsync(cancellationToken); }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { }
    }

    /// <summary>Stops listening, cancels waiting requests, and frees the models.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            try { await _app.StopAsync(stop.Token); }
            catch (OperationCanceledException) { }
        }
        foreach (var m in _state.Models.Values) await m.DisposeAsync();
        await _app.DisposeAsync();
    }
}
