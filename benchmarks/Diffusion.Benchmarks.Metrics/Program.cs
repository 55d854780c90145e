using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Diffusion.Core;
using Diffusion.Core.Data;
using Diffusion.Evaluation;
using static TorchSharp.torch;

// Times the evaluation of N images, sampling excluded: features + FID + KID + precision/recall + IS, each with its
// floor, as `diffusion eval --metrics fid,kid,is,pr` runs them. The "samples" are the last N MNIST train images; the
// reference is N test images and the floor N other train images (a seeded subset). Run once with an empty reference
// cache ("cold": real-image features are extracted) and once more with it filled ("warm": what every later
// evaluation of a run pays). Also measures the ResNet18 extractor's throughput on a few images. Writes JSON to
// benchmarks/results/.
//   dotnet run -c Release --project benchmarks/Diffusion.Benchmarks.Metrics -- [--count 10000] [--resnet-count 64]
//       [--data-dir DIR] [--classifier-dir runs/classifiers] [--out benchmarks/results] [--threads N]
int count = 10_000, resnetCount = 64, threads = Environment.ProcessorCount;
string? dataDirOption = null;
string classifierDir = Path.Combine("runs", "classifiers"), outRoot = Path.Combine("benchmarks", "results");
for (int i = 0; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--count": count = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--resnet-count": resnetCount = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--data-dir": dataDirOption = args[i + 1]; break;
        case "--classifier-dir": classifierDir = args[i + 1]; break;
        case "--out": outRoot = args[i + 1]; break;
        case "--threads": threads = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        default: Console.Error.WriteLine($"error: unknown option {args[i]}"); return 2;
    }
}
set_num_threads(threads);
string[] metrics = [MetricNames.Fid, MetricNames.Kid, MetricNames.PrecisionRecall, MetricNames.InceptionScore];

var clock = Stopwatch.StartNew();
var dataDir = DataDirectory.Resolve(dataDirOption);
using var train = IdxDatasets.Mnist(dataDir, DatasetSplit.Train, DownloadOptions.Disabled);
using var test = IdxDatasets.Mnist(dataDir, DatasetSplit.Test, DownloadOptions.Disabled);
double loadSeconds = clock.Elapsed.TotalSeconds;
if (count < 2 || count > test.Count) { Console.Error.WriteLine($"error: --count must be in 2 … {test.Count}"); return 2; }

clock.Restart();
Classifier classifier;
ClassifierInfo info;
using (var scope = NewDisposeScope())
{
    var (trX, trY) = train.Batch(arange(train.Count));
    var (teX, teY) = test.Batch(arange(test.Count));
    (classifier, info) = ClassifierStore.GetOrTrain(classifierDir, "mnist", trX, trY, teX, teY);
}
double classifierSeconds = clock.Elapsed.TotalSeconds;
Console.Error.WriteLine($"classifier ready ({classifierSeconds:F0} s, test accuracy {info.TestAccuracy:P2})");

using var samplesScope = NewDisposeScope();
var samples = train.Batch(arange(train.Count - count, train.Count)).X;   // the last N train images stand in for samples
var real = new RealImages("mnist", train, test);
var judge = new ClassifierFeatures(classifier, "classifier-mnist");
var cache = Path.Combine(Path.GetTempPath(), $"diffusion-metrics-bench-{Guid.NewGuid():N}");

var (cold, coldPhases, values) = Evaluate(real, new ReferenceStatistics(cache), judge, samples, metrics);
var (warm, warmPhases, _) = Evaluate(real, new ReferenceStatistics(cache), judge, samples, metrics);
Directory.Delete(cache, recursive: true);

// ResNet18 throughput: the ONNX graph has a fixed batch of 1.
JsonObject resnet;
using (var extractor = ResNet18Features.FromPackage())
{
    var probe = test.Batch(arange(resnetCount)).X;
    extractor.Extract(probe.narrow(0, 0, 2));                                   // warm-up
    var r = Stopwatch.StartNew();
    extractor.Extract(probe);
    double seconds = r.Elapsed.TotalSeconds;
    resnet = new JsonObject
    {
        ["images"] = resnetCount,
        ["seconds"] = seconds,
        ["imagesPerSecond"] = resnetCount / seconds,
        ["estimatedColdSeconds"] = 3.0 * count * seconds / resnetCount,        // samples + test reference + train floor
        ["estimatedWarmSeconds"] = 1.0 * count * seconds / resnetCount,
    };
}

var result = new JsonObject
{
    ["benchmark"] = "metrics",
    ["description"] = $"features + FID + KID + precision/recall + IS with floors for {count} images (the last {count} MNIST train images as samples, {count} test images as reference, {count} other train images for the floor); sampling excluded",
    ["machine"] = $"{Environment.ProcessorCount} cores, {Environment.OSVersion}",
    ["threads"] = threads,
    ["dateUtc"] = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture),
    ["count"] = count,
    ["features"] = "classifier-mnist",
    ["loadSeconds"] = loadSeconds,
    ["classifierSeconds"] = classifierSeconds,
    ["coldSeconds"] = cold,
    ["warmSeconds"] = warm,
    ["coldPhases"] = coldPhases,
    ["warmPhases"] = warmPhases,
    ["targetSeconds"] = 180,
    ["peakWorkingSetMB"] = Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0,
    ["values"] = values,
    ["resnet18"] = resnet,
    ["note"] = "measured on the shared 2-core development machine while another process was training; timings may be inflated",
};
var json = result.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
Directory.CreateDirectory(outRoot);
var file = Path.Combine(outRoot, $"metrics-{DateTime.UtcNow:yyyyMMdd-HHmmss}.json");
AtomicFile.WriteAllText(file, json);
Console.WriteLine(json);
Console.WriteLine($"-> {file}");
return 0;

// One evaluation with a fresh evaluator; the phases are the intervals between the evaluator's progress messages.
static (double Seconds, JsonArray Phases, JsonArray Values) Evaluate(RealImages real, ReferenceStatistics store, ClassifierFeatures judge, Tensor samples, string[] metrics)
{
    var marks = new List<(string Message, double At)>();
    var clock = Stopwatch.StartNew();
    var progress = new Marks(marks, clock);
    IReadOnlyList<FlooredResult> results;
    using (var evaluator = new SampleEvaluator(real, store, judge, judge, featuresFingerprint: "benchmark"))
        results = evaluator.Evaluate(samples, metrics, progress);
    double total = clock.Elapsed.TotalSeconds;
    var phases = new JsonArray();
    for (int i = 0; i < marks.Count; i++)
        phases.Add(new JsonObject { ["phase"] = marks[i].Message, ["seconds"] = (i + 1 < marks.Count ? marks[i + 1].At : total) - marks[i].At });
    var values = new JsonArray(results.SelectMany(r => r.Values).Select(v => (JsonNode)new JsonObject
    {
        ["metric"] = v.Metric, ["value"] = v.Value, ["std"] = v.Std, ["floor"] = v.Floor, ["floorStd"] = v.FloorStd,
        ["referenceCount"] = v.ReferenceCount, ["sampleCount"] = v.SampleCount, ["extractor"] = v.Extractor,
    }).ToArray());
    Console.Error.WriteLine($"evaluation: {total:F1} s");
    return (total, phases, values);
}

/// <summary>Records when each progress message arrives (synchronously, on the evaluating thread).</summary>
internal sealed class Marks(List<(string Message, double At)> marks, Stopwatch clock) : IProgress<string>
{
    public void Report(string value)
    {
        marks.Add((value, clock.Elapsed.TotalSeconds));
        Console.Error.WriteLine($"[{clock.Elapsed.TotalSeconds,6:F1} s] {value}");
    }
}
