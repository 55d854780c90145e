using System.CommandLine;
using Diffusion.Core;
using Diffusion.Server;

namespace Diffusion.Cli;

internal static partial class Commands
{
    private static Command Serve(CancellationToken ct)
    {
        var defaults = new ServerOptions { ModelsDirectory = "." };
        var models = Flags.Text("--models", "Folder of model folders (each sub-folder with model_index.json is served under its name), or one model folder.");
        models.Required = true;
        var port = Flags.Int("--port", "TCP port (0 = any free port).", defaults.Port, 0, 65535);
        var host = Flags.Text("--host", "Address to listen on (0.0.0.0 for every interface; put a TLS reverse proxy in front).", defaults.Host);
        var keyFile = Flags.Text("--api-key-file", "File whose first line is the API key every /v1/ call must send in X-API-Key.");
        var maxCount = Flags.Int("--max-count", "Most images per request.", defaults.MaxCount, 1, 1024);
        var maxSteps = Flags.Int("--max-steps", "Most sampling steps per request.", defaults.MaxSteps, 1, 100_000);
        var queue = Flags.Int("--queue", "Requests per model waiting or running before the next is answered 429.", defaults.QueueCapacity, 1, 100_000);
        var timeout = Flags.Double("--timeout", "Seconds a request may wait and run before it is answered 503.", defaults.RequestTimeout.TotalSeconds, 0.1, 86_400);
        var noBatching = new Option<bool>("--no-batching") { Description = "Run every request alone instead of coalescing requests with the same settings." };
        var cors = Flags.Text("--cors", "Comma-separated origins allowed to call the API from other pages (default: none).");
        var precision = PrecisionOption("auto, bf16, fp32 or autocast for the networks.");
        var threads = ThreadsOption("CPU threads for TorchSharp.");
        var device = DeviceOption();
        var command = new Command("serve", "Serve the models of a folder: REST API (POST /v1/generate, GET /v1/models, /health, /openapi/v1.json) and a web page at /. See docs/serving.md.")
        {
            models, port, host, keyFile, maxCount, maxSteps, queue, timeout, noBatching, cors, precision, threads, device,
        };
        command.SetAction(p =>
        {
            string? key = null;
            if (p.GetValue(keyFile) is { } file)
            {
                if (!File.Exists(file)) throw new DiffusionException($"The API key file '{file}' does not exist.");
                key = File.ReadLines(file).FirstOrDefault()?.Trim();
                if (string.IsNullOrEmpty(key)) throw new DiffusionException($"The API key file '{file}' is empty.");
            }
            TorchSharp.torch.set_num_threads(p.GetValue(threads));
            var options = defaults with
            {
                ModelsDirectory = p.GetValue(models)!,
                Port = p.GetValue(port),
                Host = p.GetValue(host)!,
                ApiKey = key,
                MaxCount = p.GetValue(maxCount),
                MaxSteps = p.GetValue(maxSteps),
                MaxBatchImages = Math.Max(defaults.MaxBatchImages, p.GetValue(maxCount)),
                QueueCapacity = p.GetValue(queue),
                RequestTimeout = TimeSpan.FromSeconds(p.GetValue(timeout)),
                Batching = !p.GetValue(noBatching),
                CorsOrigins = p.GetValue(cors)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [],
                Precision = p.GetValue(precision),
                Device = p.GetValue(device)!,
                ConsoleLog = true,
            };
            return Run(options, ct).GetAwaiter().GetResult();
        });
        return command;
    }

    private static async Task<int> Run(ServerOptions options, CancellationToken ct)
    {
        await using var server = await DiffusionServer.StartAsync(options, ct);
        foreach (var m in server.Models)
            Console.WriteLine($"Model '{m.Name}': {m.Width}x{m.Height}x{m.Channels}, {m.Conditioning}{(m.Classes is { } c ? $" ({c.Count} classes)" : "")}");
        Console.WriteLine($"Serving on {server.Address} (web page at /, API at /v1/, OpenAPI at /openapi/v1.json){(options.ApiKey is null ? "" : "; API key required")}. Ctrl-C stops.");
        await server.WaitForShutdownAsync(ct);
        return 0;
    }
}
