using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Diffusion.Core;

// End-to-end time-to-quality benchmark: runs the CLI exactly as a user does (train a preset for a fixed
// wall-clock budget on this machine, then measure class accuracy with DDIM 50 at guidance 1 and 3) and writes
// one JSON file with steps, images/s, final loss, accuracies and peak memory.
//   dotnet run -c Release --project benchmarks/Diffusion.Benchmarks.EndToEnd -- [--preset mnist] [--minutes 10] [--out DIR]
//       [--guidance 1,3] [--count 100 (per class)] [--run RUN (evaluate a finished run, no training)]
string preset = "mnist", minutes = "10", outRoot = "benchmarks/results", guidance = "1,3", perClass = "100";
string? existingRun = null;
for (int i = 0; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--preset": preset = args[i + 1]; break;
        case "--minutes": minutes = args[i + 1]; break;
        case "--out": outRoot = args[i + 1]; break;
        case "--run": existingRun = args[i + 1]; break;
        case "--guidance": guidance = args[i + 1]; break;
        case "--count": perClass = args[i + 1]; break;
        default: Console.Error.WriteLine($"error: unknown option {args[i]}"); return 2;
    }
}
var cli = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "samples", "Diffusion.Cli", "bin", "Release", "net10.0", "diffusion.dll");
if (!File.Exists(cli))
{
    Console.Error.WriteLine($"error: build the CLI first (dotnet build samples/Diffusion.Cli -c Release); {Path.GetFullPath(cli)} is missing.");
    return 2;
}
var stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss");
var run = Path.GetFullPath(existingRun ?? Path.Combine(outRoot, $"{preset}-{minutes}min-{stamp}"));

// --run DIR evaluates a finished run again (e.g. at other guidance scales) without training; the training figures
// then come from its train-result.json.
var total = Stopwatch.StartNew();
long? peakTrain = existingRun is null ? Run(cli, $"train --preset {preset} --minutes {minutes} --out {run}") : null;
double? trainWall = existingRun is null ? total.Elapsed.TotalSeconds : null;
var evalClock = Stopwatch.StartNew();
long peakEval = Run(cli, $"eval --run {run} --count {perClass} --guidance {guidance} --sampler ddim --steps 50");
double evalWall = evalClock.Elapsed.TotalSeconds;

var train = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "train-result.json")))!;
var eval = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "eval.json")))!;
var result = new JsonObject
{
    ["benchmark"] = "time-to-quality",
    ["preset"] = preset,
    ["budgetMinutes"] = double.Parse(minutes, System.Globalization.CultureInfo.InvariantCulture),
    ["machine"] = $"{Environment.ProcessorCount} cores, {Environment.OSVersion}",
    ["dateUtc"] = DateTime.UtcNow.ToString("o"),
    ["steps"] = train["steps"]!.GetValue<int>(),
    ["imagesPerSecond"] = train["imagesPerSecond"]!.GetValue<double>(),
    ["finalLoss"] = train["finalLoss"]!.GetValue<double>(),
    ["trainWallSeconds"] = trainWall,
    ["evalWallSeconds"] = evalWall,
    ["peakWorkingSetMBTrain"] = peakTrain is long pt ? pt / 1048576.0 : train["peakWorkingSetBytes"]?.GetValue<long>() / 1048576.0,
    ["peakWorkingSetMBEval"] = peakEval / 1048576.0,
    ["classifierTestAccuracy"] = eval["classifierTestAccuracy"]!.GetValue<double>(),
    ["accuracy"] = new JsonArray(eval["results"]!.AsArray().Select(r => (JsonNode)new JsonObject
    {
        ["guidance"] = r!["guidance"]!.GetValue<double>(),
        ["sampler"] = "ddim",
        ["steps"] = 50,
        ["accuracy"] = r["accuracy"]!.GetValue<double>(),
        ["count"] = r["count"]!.GetValue<long>(),
    }).ToArray()),
    ["run"] = run,
};
var json = result.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
var file = Path.Combine(outRoot, $"{preset}-e2e-{stamp}.json");
AtomicFile.WriteAllText(file, json);
Console.WriteLine(json);
Console.WriteLine($"-> {file}");
return 0;

// Runs the CLI as a child process, echoing its output; returns the child's peak resident memory (VmHWM).
static long Run(string cli, string arguments)
{
    var psi = new ProcessStartInfo("dotnet", $"\"{cli}\" {arguments}") { UseShellExecute = false };
    using var p = Process.Start(psi)!;
    long peak = 0;
    while (!p.WaitForExit(1000)) peak = Math.Max(peak, PeakRss(p.Id));
    if (p.ExitCode != 0) throw new InvalidOperationException($"'diffusion {arguments}' exited with {p.ExitCode}.");
    return peak;
}

static long PeakRss(int pid)
{
    try
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }
    catch (IOException) { }
    return 0;
}
