using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Diffusion.Benchmarks;
using Diffusion.Benchmarks.Speed;
using Diffusion.Core;
using Diffusion.Models;

// Side-by-side speed benchmark (issue 16): the SDK's training and sampling throughput with glibc's allocator tuned and
// at its defaults, in float32, whole-network bf16 and ATen autocast, against the same network written in PyTorch
// (Debian's python3-torch) in the same run, and against this CPU's matmul peak. Each figure comes from a fresh child
// process (the allocator is set when Diffusion.Core loads); repeats alternate the order; the best of the repeats is
// reported next to all of them. Writes JSON and a Markdown table.
//   dotnet benchmarks/Diffusion.Benchmarks.Speed/bin/Release/net10.0/Diffusion.Benchmarks.Speed.dll --networks mnist
if (args.Length > 0 && args[0] == "child") return Child.Run(args[1..]);
if (args.Length == 2 && args[0] == "--report")
{
    // Writes the Markdown of an earlier run's JSON again (e.g. after a change to the report).
    var md = Report.Markdown(JsonNode.Parse(File.ReadAllText(args[1]))!.AsObject());
    File.WriteAllText(Path.ChangeExtension(args[1], ".md"), md);
    Console.WriteLine(md);
    return 0;
}

const string Help = """
    Diffusion.Benchmarks.Speed: training and sampling images/s, SDK vs PyTorch, allocator tuned vs default.
      --networks LIST        run presets whose network to measure (default mnist; e.g. mnist,cifar10)
      --precisions LIST      fp32,bf16,autocast (default all three)
      --allocators LIST      tuned,default (default both)
      --kinds LIST           train,sample-guided,sample-1nfe (default all three)
      --profile yes|no       the per-operation profile of a training step (default yes)
      --train-steps N        timed training steps per run (default 20), after --warmup N (default 5)
      --batch N              training batch (default: the preset's)
      --sample-count N       images per sampling run (default 250), --sample-steps N (default 10), --guidance G (default 2)
      --repeats N            runs per configuration, order alternating (default 2)
      --memory-networks LIST presets whose training memory is measured with and without gradient checkpointing
                             (fp32, --train-steps 3; default faces, the 64 px network; 'none' skips)
      --python PATH          python with torch (default /usr/bin/python3; 'none' skips PyTorch)
      --out DIR              where the JSON and Markdown go (default benchmarks/results)
    --report FILE.json       writes the Markdown of an earlier run again
    """;

string[] known = ["kinds", "profile", "memory-networks", "networks", "precisions", "allocators", "train-steps", "warmup", "batch", "sample-count", "sample-steps", "guidance", "repeats", "python", "out"];
JsonObject? report = null;
return ConsoleBenchmark.Run(args.Length == 0 ? ["--networks", "mnist"] : args, Help, ct =>
{
    var v = new OptionValues(args, known);
    string Get(string name, string fallback) => v.TryGet(name, out var s) ? s : fallback;
    var networks = OptionValues.List(Get("networks", "mnist"));
    var precisions = OptionValues.List(Get("precisions", "fp32,bf16,autocast"));
    var allocators = OptionValues.List(Get("allocators", "tuned,default"));
    var kinds = OptionValues.List(Get("kinds", "train,sample-guided,sample-1nfe"));
    foreach (var k in kinds) if (k is not ("train" or "sample-guided" or "sample-1nfe")) throw new DiffusionException($"--kinds: unknown '{k}' (train, sample-guided, sample-1nfe).");
    bool profile = Get("profile", "yes") != "no";
    int trainSteps = OptionValues.Int("train-steps", Get("train-steps", "20"), 1, 100000);
    int warmup = OptionValues.Int("warmup", Get("warmup", "5"), 1, 100000);
    int sampleCount = OptionValues.Int("sample-count", Get("sample-count", "250"), 1, 100000);
    int sampleSteps = OptionValues.Int("sample-steps", Get("sample-steps", "10"), 1, 1000);
    double guidance = OptionValues.Number("guidance", Get("guidance", "2"), 0, 100);
    int repeats = OptionValues.Int("repeats", Get("repeats", "2"), 1, 100);
    string python = Get("python", "/usr/bin/python3");
    string outDir = Get("out", "benchmarks/results");
    foreach (var p in precisions) if (p is not ("fp32" or "bf16" or "autocast")) throw new DiffusionException($"--precisions: unknown '{p}' (fp32, bf16, autocast).");
    foreach (var a in allocators) if (a is not ("tuned" or "default")) throw new DiffusionException($"--allocators: unknown '{a}' (tuned, default).");
    foreach (var n in networks) Child.Network(n); // unknown presets fail here, before anything runs
    bool withPython = python != "none";
    if (withPython && !File.Exists(python)) throw new DiffusionException($"{python} not found: install Debian's python3-torch (apt-get install python3-torch) or pass --python none.");
    var script = Path.Combine(AppContext.BaseDirectory, "torch_unet.py");

    report = new JsonObject
    {
        ["benchmark"] = "speed",
        ["dateUtc"] = DateTime.UtcNow.ToString("o"),
        ["machine"] = Machine.Describe(),
        ["settings"] = new JsonObject
        {
            ["trainSteps"] = trainSteps, ["warmup"] = warmup, ["sampleCount"] = sampleCount, ["sampleSteps"] = sampleSteps,
            ["guidance"] = guidance, ["repeats"] = repeats, ["sampler"] = "ddim", ["kinds"] = string.Join(",", kinds),
        },
    };
    var matmul = new JsonObject { ["dotnet"] = Processes.Dotnet(["matmul", "2048"], "tuned") };
    if (withPython) matmul["pytorch"] = Processes.Python(python, script, ["matmul", "2048"], "tuned");
    report["matmul2048"] = matmul;
    Console.Error.WriteLine($"matmul 2048³: {matmul.ToJsonString()}");
    var results = new JsonArray();
    report["networks"] = results;

    foreach (var name in networks)
    {
        ct.ThrowIfCancellationRequested();
        var run = Child.Network(name);
        int batch = v.TryGet("batch", out var b) ? OptionValues.Int("batch", b, 1, 4096) : run.Training.BatchSize;
        var entry = new JsonObject
        {
            ["network"] = name,
            ["options"] = JsonNode.Parse(run.Model.ToJson()),
            ["forwardMFlopsPerImage"] = UNetCost.ForwardFlops(run.Model) / 1e6,
            ["trainingMFlopsPerImage"] = UNetCost.TrainingFlops(run.Model) / 1e6,
            ["batch"] = batch,
        };
        results.Add(entry);
        if (withPython)
        {
            var dump = Directory.CreateTempSubdirectory("diffusion-speed-dump-").FullName;
            try
            {
                entry["dotnetDump"] = Processes.Dotnet(["dump", name, dump], "tuned");
                entry["pytorchTwin"] = Processes.Python(python, script, ["check", dump], "tuned");
                Console.Error.WriteLine($"{name}: PyTorch twin {entry["pytorchTwin"]!.ToJsonString()}");
            }
            finally { Directory.Delete(dump, true); }
        }
        if (profile)
        {
            entry["profile"] = Processes.Dotnet(["profile", name, $"{batch}", "7"], "tuned");
            Console.Error.WriteLine($"{name} profile {entry["profile"]!.ToJsonString()}");
        }
        var optionsFile = Path.Combine(Path.GetTempPath(), $"diffusion-speed-{name}-{Environment.ProcessId}.json");
        File.WriteAllText(optionsFile, run.Model.ToJson());

        // (kind, label, args for our child, args for the PyTorch twin)
        var jobs = new List<(string Kind, string Config, Func<JsonObject> Measure)>();
        foreach (var alloc in allocators)
            foreach (var p in precisions)
            {
                jobs.Add(("train", $"dotnet {p} {alloc}", () => Processes.Dotnet(["train", name, p, $"{batch}", $"{trainSteps}", $"{warmup}"], alloc)));
                jobs.Add(("sample-guided", $"dotnet {p} {alloc}", () => Processes.Dotnet(["sample", name, p, $"{sampleCount}", $"{sampleSteps}", Inv(guidance), "250"], alloc)));
                jobs.Add(("sample-1nfe", $"dotnet {p} {alloc}", () => Processes.Dotnet(["sample", name, p, $"{sampleCount}", "1", "1", "250"], alloc)));
            }
        if (withPython)
            foreach (var alloc in allocators)
                foreach (var p in new[] { "fp32", "autocast" })
                {
                    jobs.Add(("train", $"pytorch {p} {alloc}", () => Processes.Python(python, script, ["train", optionsFile, $"{batch}", $"{trainSteps}", $"{warmup}", p], alloc)));
                    jobs.Add(("sample-guided", $"pytorch {p} {alloc}", () => Processes.Python(python, script, ["sample", optionsFile, $"{sampleCount}", $"{sampleSteps}", Inv(guidance), "250", p], alloc)));
                    jobs.Add(("sample-1nfe", $"pytorch {p} {alloc}", () => Processes.Python(python, script, ["sample", optionsFile, $"{sampleCount}", "1", "1", "250", p], alloc)));
                }
        jobs.RemoveAll(j => !kinds.Contains(j.Kind));
        var all = new Dictionary<(string, string), List<JsonObject>>();
        for (int r = 0; r < repeats; r++)
        {
            var order = r % 2 == 0 ? jobs : Enumerable.Reverse(jobs).ToList();
            foreach (var job in order)
            {
                ct.ThrowIfCancellationRequested();
                var m = job.Measure();
                Console.Error.WriteLine($"{name} {job.Kind,-13} {job.Config,-24} {m.ToJsonString()}");
                if (!all.TryGetValue((job.Kind, job.Config), out var list)) all[(job.Kind, job.Config)] = list = [];
                list.Add(m);
            }
        }
        File.Delete(optionsFile);
        var table = new JsonObject();
        foreach (var ((kind, config), list) in all)
        {
            var speeds = list.Where(m => m["imagesPerSecond"] is not null).Select(m => m["imagesPerSecond"]!.GetValue<double>()).ToList();
            var row = new JsonObject
            {
                ["bestImagesPerSecond"] = speeds.Count > 0 ? speeds.Max() : null,
                ["allImagesPerSecond"] = new JsonArray(speeds.Select(s => (JsonNode)Math.Round(s, 1)).ToArray()),
                ["peakMB"] = list.Max(m => m["peakMB"]?.GetValue<double>() ?? 0),
                ["error"] = list.Select(m => m["error"]?.GetValue<string>()).FirstOrDefault(e => e is not null),
            };
            if (!table.ContainsKey(kind)) table[kind] = new JsonObject();
            table[kind]![config] = row;
        }
        entry["results"] = table;
    }
    var memory = new JsonArray();
    report["gradientCheckpointing"] = memory;
    foreach (var name in OptionValues.List(Get("memory-networks", "faces")).Where(n => n != "none"))
    {
        var run = Child.Network(name);
        int batch = run.Training.BatchSize;
        foreach (var checkpointing in new[] { false, true })
        {
            ct.ThrowIfCancellationRequested();
            var m = Processes.Dotnet(["train", name, "fp32", $"{batch}", "3", "1", checkpointing ? "checkpointing" : "plain"], "tuned");
            m["network"] = name;
            m["batch"] = batch;
            Console.Error.WriteLine($"{name} memory checkpointing={checkpointing} {m.ToJsonString()}");
            memory.Add(m);
        }
    }
    Directory.CreateDirectory(outDir);
    var stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmm", CultureInfo.InvariantCulture);
    var json = Path.Combine(outDir, $"speed-{stamp}.json");
    File.WriteAllText(json, report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    var md = Report.Markdown(report);
    File.WriteAllText(Path.ChangeExtension(json, ".md"), md);
    Console.WriteLine(md);
    Console.Error.WriteLine($"wrote {json} and {Path.ChangeExtension(json, ".md")}");
}, () => "Cancelled; nothing was written.");

static string Inv(double x) => x.ToString(CultureInfo.InvariantCulture);
