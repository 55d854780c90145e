// Several callers share one pipeline: every GenerateAsync call queues on the pipeline's own torch thread, reports its
// progress on one console line and stops at the next step on Ctrl-C. Writes one PNG grid per caller.
//   dotnet run -c Release --project samples/AsyncGeneration -- [model folder] [out folder=async-grids]
// Without a model folder it first trains the `tiny` preset into runs/async-tiny (data: $DIFFUSION_DATA or ./data).
using Diffusion.Core;
using Diffusion.Pipelines;
using Diffusion.Pipelines.Training;

const int Callers = 3;
string output = args.Length > 1 ? args[1] : "async-grids";
using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };   // Ctrl-C cancels instead of killing
try
{
    string model = args.Length > 0 ? args[0] : TrainTiny(cts.Token);
    using var pipe = DiffusionPipeline.Load(model);
    int classes = pipe.ClassNames?.Count ?? 0;
    var line = new ProgressLine(Callers);
    Console.WriteLine($"{Callers} callers, 16 images each, on {model}:");
    // Each caller is its own task; the pipeline runs their requests one at a time, each reproducible from its seed.
    var callers = Enumerable.Range(0, Callers).Select(caller => Task.Run(async () =>
    {
        var request = new GenerationRequest
        {
            Count = 16, Classes = classes > 0 ? [caller % classes] : null, Seed = caller,   // caller k draws class k
            Sampler = "dpmpp_2m", Steps = 20, BatchSize = 8,
        };
        using var result = await pipe.GenerateAsync(request, line.For(caller), cts.Token);
        string path = Path.Combine(output, $"caller-{caller}.png");
        result.SaveGrid(path, columns: 4, scale: 2);
        return path;
    })).ToArray();
    string[] paths = await Task.WhenAll(callers);
    Console.WriteLine();
    foreach (var path in paths) Console.WriteLine($"wrote {path}");
    return 0;
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine("\ncancelled");
    return 130;
}
catch (DiffusionException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}

static string TrainTiny(CancellationToken cancellationToken)
{
    Console.WriteLine("No model folder given: training the tiny preset into runs/async-tiny ...");
    var run = RunTrainer.Run(new TrainRunOptions { Preset = "tiny", OutputDirectory = Path.Combine("runs", "async-tiny") },
        cancellationToken: cancellationToken);
    cancellationToken.ThrowIfCancellationRequested();
    return run.ModelDirectory;
}

/// <summary>One console line with every caller's state, rewritten in place. Reports arrive on the pipeline's thread.</summary>
sealed class ProgressLine(int callers)
{
    private readonly string[] _states = Enumerable.Repeat("queued", callers).ToArray();

    public IProgress<GenerationProgress> For(int caller) => new SyncProgress<GenerationProgress>(p => Update(caller, p));

    private void Update(int caller, GenerationProgress p)
    {
        lock (_states)
        {
            _states[caller] = p.ImagesDone == p.Count ? "done" : $"batch {p.Batch}/{p.Batches} step {p.Step,2}/{p.Steps}";
            Console.Write("\r" + string.Join("  |  ", _states.Select((s, i) => $"caller {i}: {s,-20}")));
        }
    }
}
