using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Diffusion.Benchmarks;
using Diffusion.Core;
using Diffusion.Core.Conditioning;
using Diffusion.Core.Schedules;
using Diffusion.Core.Training;
using Diffusion.Models;
using Diffusion.Pipelines;
using Diffusion.Server;
using TorchSharp;
using static TorchSharp.torch;

// Serving benchmark: starts the server (Kestrel on a loopback port, in this process) over a model folder, sends
// --requests generate requests from --concurrency clients at a time, once with batching off and once with it on, and
// writes requests/s, p50/p95 latency and resident memory before/after each load to JSON + Markdown.
const string Help = """
    Diffusion.Benchmarks.Serve: requests/s and latency of POST /v1/generate, batching off vs on.
      --model DIR          a model folder (e.g. runs/mnist/model) [default: a tiny untrained 8x8 model made here]
      --requests N         requests per load [200]
      --concurrency N      clients at once [8]
      --steps N            sampling steps (NFE for first-order samplers) [20]
      --sampler NAME       [ddim]
      --count N            images per request [1]
      --class N            class of every request (class-conditional models) [7]
      --warmup N           requests before each load, not measured [16]
      --threads N          TorchSharp CPU threads [all cores]
      --out DIR            where serve-<stamp>.json and .md go [benchmarks/results]
    """;
return ConsoleBenchmark.Run(args, Help, ct => Bench.Run(new OptionValues(args,
    ["model", "requests", "concurrency", "steps", "sampler", "count", "class", "warmup", "threads", "out"]), ct).GetAwaiter().GetResult(),
    () => "Cancelled: nothing written.");

internal static class Bench
{
    public static async Task Run(OptionValues o, CancellationToken ct)
    {
        int Int(string name, int @default, int min, int max) => o.TryGet(name, out var v) ? OptionValues.Int(name, v, min, max) : @default;
        int requests = Int("requests", 200, 1, 1_000_000), concurrency = Int("concurrency", 8, 1, 1024), steps = Int("steps", 20, 1, 1000);
        int count = Int("count", 1, 1, 64), cls = Int("class", 7, 0, 100_000), warmup = Int("warmup", 16, 0, 100_000);
        string sampler = o.TryGet("sampler", out var s) ? s : "ddim";
        string outDir = o.TryGet("out", out var d) ? d : Path.Combine("benchmarks", "results");
        set_num_threads(Int("threads", Environment.ProcessorCount, 1, 256));

        using var temp = o.TryGet("model", out var m) ? null : new TempModel();
        string modelFolder = m ?? temp!.Folder;
        if (!PipelineFolder.IsModelFolder(modelFolder)) throw new DiffusionException($"'{modelFolder}' is not a model folder (no {PipelineFolder.IndexFile}).");

        var runs = new List<LoadResult>();
        foreach (bool batching in new[] { false, true })
        {
            Console.Error.WriteLine($"Load with batching {(batching ? "on" : "off")}: {requests} requests, {concurrency} at a time, {sampler} {steps} steps, {count} image(s) each ...");
            runs.Add(await Load(modelFolder, batching, requests, concurrency, steps, sampler, count, cls, warmup, ct));
            var r = runs[^1];
            Console.Error.WriteLine($"  {r.RequestsPerSecond:F2} req/s, p50 {r.P50Ms:F0} ms, p95 {r.P95Ms:F0} ms, {r.Ok} ok, {r.Rejected} rejected, {r.Batches} batches, RSS {r.ResidentBeforeMb:F0} -> {r.ResidentAfterMb:F0} MB");
        }
        Write(outDir, new Report(DateTime.UtcNow, Environment.ProcessorCount, get_num_threads(), m ?? "(tiny untrained 8x8 model)", sampler, steps, count, requests, concurrency, warmup, runs));
    }

    private static async Task<LoadResult> Load(string modelFolder, bool batching, int requests, int concurrency, int steps, string sampler, int count, int cls,
        int warmup, CancellationToken ct)
    {
        // The folder's parent is served; the model goes by its folder name.
        var options = new ServerOptions
        {
            ModelsDirectory = modelFolder, Port = 0, Batching = batching, QueueCapacity = Math.Max(concurrency * 2, 1),
            MaxSteps = Math.Max(steps, 200), MaxCount = Math.Max(count, 16), MaxBatchImages = Math.Max(64, count * concurrency),
            RequestTimeout = TimeSpan.FromMinutes(30),
        };
        await using var server = await DiffusionServer.StartAsync(options, ct);
        var model = server.Models.Single();
        using var client = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromMinutes(30) };
        object Body(int i) => model.Conditioning == "class"
            ? new { model = model.Name, @class = cls % model.Classes!.Count, count, steps, sampler, seed = i }
            : new { model = model.Name, count, steps, sampler, seed = i };
        var latencies = new ConcurrentBag<double>();
        int ok = 0, rejected = 0;
        async Task Send(int n, bool measure)
        {
            await Parallel.ForAsync(0, n, new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = ct }, async (i, token) =>
            {
                var clock = Stopwatch.StartNew();
                using var response = await client.PostAsJsonAsync("/v1/generate", Body(i), token);
                await response.Content.ReadAsByteArrayAsync(token);
                if (!measure) return;
                if (response.StatusCode == HttpStatusCode.OK) { Interlocked.Increment(ref ok); latencies.Add(clock.Elapsed.TotalMilliseconds); }
                else if (response.StatusCode == HttpStatusCode.TooManyRequests) Interlocked.Increment(ref rejected);
                else throw new DiffusionException($"The server answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(token)}");
            });
        }
        await Send(warmup, measure: false);
        var batchesBefore = server.Stats[model.Name].Batches;
        double before = Resident();
        var wall = Stopwatch.StartNew();
        await Send(requests, measure: true);
        double seconds = wall.Elapsed.TotalSeconds;
        double after = Resident();
        var sorted = latencies.Order().ToArray();
        return new LoadResult(batching, ok, rejected, seconds, ok / seconds, ok * count / seconds, Percentile(sorted, 0.5), Percentile(sorted, 0.95),
            server.Stats[model.Name].Batches - batchesBefore, before, after);
    }

    private static double Percentile(double[] sorted, double q) => sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static double Resident()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return p.WorkingSet64 / 1048576.0;
    }

    private static void Write(string outDir, Report report)
    {
        Directory.CreateDirectory(outDir);
        var stamp = report.Utc.ToString("yyyyMMdd-HHmm", CultureInfo.InvariantCulture);
        var json = Path.Combine(outDir, $"serve-{stamp}.json");
        AtomicFile.WriteAllText(json, JsonSerializer.Serialize(report, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# Serving benchmark {report.Utc:yyyy-MM-dd HH:mm} UTC");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Model {report.Model}; {report.Sampler} {report.Steps} steps, {report.Count} image(s) per request; {report.Requests} requests, {report.Concurrency} at a time after {report.Warmup} warm-up requests; {report.Cores} cores, {report.TorchThreads} torch threads. One process: the clients share the CPU with the server.");
        md.AppendLine();
        md.AppendLine("| batching | ok | 429 | requests/s | images/s | p50 ms | p95 ms | batches | RSS before MB | RSS after MB |");
        md.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in report.Runs)
            md.AppendLine(CultureInfo.InvariantCulture, $"| {(r.Batching ? "on" : "off")} | {r.Ok} | {r.Rejected} | {r.RequestsPerSecond:F2} | {r.ImagesPerSecond:F2} | {r.P50Ms:F0} | {r.P95Ms:F0} | {r.Batches} | {r.ResidentBeforeMb:F0} | {r.ResidentAfterMb:F0} |");
        AtomicFile.WriteAllText(Path.ChangeExtension(json, ".md"), md.ToString());
        Console.WriteLine(md);
        Console.Error.WriteLine($"-> {json}, {Path.ChangeExtension(json, ".md")}");
    }
}

internal sealed record LoadResult(bool Batching, int Ok, int Rejected, double Seconds, double RequestsPerSecond, double ImagesPerSecond, double P50Ms, double P95Ms,
    long Batches, double ResidentBeforeMb, double ResidentAfterMb);

internal sealed record Report(DateTime Utc, int Cores, int TorchThreads, string Model, string Sampler, int Steps, int Count, int Requests, int Concurrency,
    int Warmup, IReadOnlyList<LoadResult> Runs);

/// <summary>A tiny untrained class-conditional model (10 classes, 8x8 grey) in a temporary folder, for a run without --model.</summary>
internal sealed class TempModel : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "diffusion-serve-bench-" + Guid.NewGuid().ToString("N"));

    public TempModel()
    {
        Folder = Path.Combine(_root, "tiny");
        var options = new UNetOptions
        {
            InChannels = 1, OutChannels = 1, SampleSize = 8, BaseChannels = 16, ChannelMultipliers = [1, 2], LayersPerBlock = 1,
            AttentionLevels = [], GroupNormGroups = 8, NumClasses = 10,
        };
        var unet = new UNet(options, new Generator(1, CPU));
        unet.eval();
        using var pipe = DiffusionPipeline.Create(new PipelineComponents
        {
            Denoiser = unet,
            Scheduler = new NoiseSchedule(new ScheduleOptions()),
            Conditioner = new ClassConditioner(10),
            SampleShape = [1, 8, 8],
            ClipSample = 1.0,
        }, CPU);
        pipe.Save(Folder);
    }

    public string Folder { get; }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); }
        catch (IOException) { }
    }
}
