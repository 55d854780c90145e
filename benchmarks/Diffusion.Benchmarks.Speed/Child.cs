using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Diffusion.Core;
using Diffusion.Core.Conditioning;
using Diffusion.Core.Memory;
using Diffusion.Core.Schedules;
using Diffusion.Core.Training;
using Diffusion.Models;
using Diffusion.Pipelines;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Benchmarks.Speed;

/// <summary>One measurement in a fresh process (so the allocator setting, set at load, is the only difference):
/// prints one JSON line on stdout.</summary>
internal static class Child
{
    public static int Run(string[] args)
    {
        var mode = args[0];
        var r = mode switch
        {
            "train" => Train(Network(args[1]), Precision(args[2]), Int(args[3]), Int(args[4]), Int(args[5]), args.Length > 6 && args[6] == "checkpointing"),
            "sample" => Sample(Network(args[1]), Precision(args[2]), Int(args[3]), Int(args[4]), double.Parse(args[5], CultureInfo.InvariantCulture), Int(args[6])),
            "matmul" => Matmul(Int(args[1])),
            "profile" => Profile.Run(Network(args[1]).Model, Int(args[2]), Int(args[3])),
            "dump" => Dump(Network(args[1]), args[2]),
            _ => throw new DiffusionException($"unknown child mode {mode}"),
        };
        r["allocator"] = AllocatorTuning.State.ToString();
        r["threads"] = torch.get_num_threads();
        r["peakMB"] = PeakRssMB();
        Console.WriteLine(r.ToJsonString());
        return 0;
    }

    /// <summary>The networks the benchmark knows: a run preset's model and training options.</summary>
    public static RunOptions Network(string name) => Presets.Get(name);

    private static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);

    private static Precision Precision(string s) => s switch
    {
        "fp32" => Diffusion.Core.Training.Precision.Float32,
        "bf16" => Diffusion.Core.Training.Precision.BFloat16,
        "autocast" => Diffusion.Core.Training.Precision.Autocast,
        _ => throw new DiffusionException($"unknown precision {s}"),
    };

    /// <summary>Training images/s of the SDK's real <see cref="Trainer"/> (EMA, clipping, NaN guard, AdamW) on in-memory data.</summary>
    private static JsonObject Train(RunOptions run, Precision precision, int batch, int steps, int warmup, bool checkpointing)
    {
        var model = run.Model;
        using var dir = new TempFolder();
        manual_seed(0);
        using var net = new UNet(model, new Generator(0, CPU));
        var options = run.Training with
        {
            BatchSize = batch, MaxSteps = warmup + steps, MaxMinutes = null, Precision = precision, LogEvery = 1,
            CheckpointEvery = int.MaxValue / 2, SampleEvery = null, GradientCheckpointing = checkpointing,
        };
        using var trainer = new Trainer(net, new NoiseSchedule(run.Schedule), model.NumClasses is int k ? new ClassConditioner(k) : null,
            new RandomImages(model), options, dir.Path);
        double before = RssMB(); // the runtime, libtorch, the network, the optimizer and the data: what training adds comes on top
        using var live = new LiveBytesSampler();
        var clock = new Stopwatch();
        double? start = null, end = null;
        double loss = double.NaN;
        trainer.Run(new SyncProgress<TrainingProgress>(p =>
        {
            if (p.Step == warmup) { clock.Start(); start = 0; }
            if (p.Step == warmup + steps) { end = clock.Elapsed.TotalSeconds; loss = p.Loss; }
        }));
        if (start is null || end is null) throw new InvalidOperationException("the progress reports missed the timed steps");
        return new JsonObject
        {
            ["imagesPerSecond"] = batch * steps / end.Value, ["secondsPerStep"] = end.Value / steps, ["loss"] = loss,
            ["parameters"] = net.ParameterCount, ["rssBeforeTrainingMB"] = before, ["gradientCheckpointing"] = checkpointing,
            ["liveBeforeTrainingMB"] = live.FirstMB, ["peakLiveMB"] = live.PeakMB,
        };
    }

    /// <summary>Sampling images/s through the SDK's pipeline (DDIM, classifier-free guidance batched as one forward).</summary>
    private static JsonObject Sample(RunOptions run, Precision precision, int count, int steps, double guidance, int batch)
    {
        var model = run.Model;
        using var dir = new TempFolder();
        using (var created = DiffusionPipeline.Create(new PipelineComponents
        {
            Denoiser = new UNet(model, new Generator(0, CPU)),
            Scheduler = new NoiseSchedule(run.Schedule),
            Conditioner = model.NumClasses is int k ? new ClassConditioner(k) : null,
            SampleShape = [model.InChannels, model.SampleSize, model.SampleSize],
            ClipSample = 1.0,
        }))
            created.Save(dir.Path);
        using var pipe = DiffusionPipeline.Load(dir.Path, "cpu", precision);
        GenerationRequest Request(int n) => new()
        {
            Count = n, Steps = steps, Sampler = "ddim", GuidanceScale = guidance, BatchSize = batch, Seed = 1,
            Classes = model.NumClasses is int c ? Enumerable.Range(0, n).Select(i => i % c).ToArray() : null,
        };
        // Warm-up at the measured shapes (one step): oneDNN builds its kernels per shape on the first call.
        using (pipe.Generate(Request(Math.Min(batch, count)) with { Steps = 1 })) { }
        var clock = Stopwatch.StartNew();
        using (pipe.Generate(Request(count))) { }
        double seconds = clock.Elapsed.TotalSeconds;
        return new JsonObject { ["imagesPerSecond"] = count / seconds, ["seconds"] = seconds };
    }

    private static JsonObject Matmul(int n)
    {
        var r = new JsonObject();
        foreach (var (name, dtype) in new[] { ("fp32", ScalarType.Float32), ("bf16", ScalarType.BFloat16) })
        {
            using var scope = NewDisposeScope();
            var a = randn(n, n).to(dtype);
            var b = randn(n, n).to(dtype);
            _ = a.matmul(b);
            double best = double.MaxValue;
            for (int i = 0; i < 5; i++)
            {
                var clock = Stopwatch.StartNew();
                using var c = a.matmul(b);
                best = Math.Min(best, clock.Elapsed.TotalSeconds);
            }
            r[name + "GFlops"] = 2.0 * n * n * n / best / 1e9;
        }
        return r;
    }

    /// <summary>Writes a seeded network, an input and its output as raw float32 files, for the PyTorch twin to check.</summary>
    private static JsonObject Dump(RunOptions run, string folder)
    {
        var model = run.Model;
        Directory.CreateDirectory(Path.Combine(folder, "weights"));
        File.WriteAllText(Path.Combine(folder, "options.json"), model.ToJson());
        using var scope = NewDisposeScope();
        using var net = new UNet(model, new Generator(0, CPU));
        net.eval();
        var index = new JsonObject();
        foreach (var (name, t) in net.state_dict())
        {
            File.WriteAllBytes(Path.Combine(folder, "weights", name + ".bin"), t.to(ScalarType.Float32).contiguous().bytes.ToArray());
            index[name] = new JsonArray(t.shape.Select(s => (JsonNode)s).ToArray());
        }
        File.WriteAllText(Path.Combine(folder, "weights.json"), index.ToJsonString());
        var g = new Generator(5, CPU);
        var x = randn([4, model.InChannels, model.SampleSize, model.SampleSize], generator: g);
        float[] t4 = [0, 250.5f, 500, 999];
        long[]? labels = model.NumClasses is int k ? [0, 1, k, 3 % k] : null;
        Tensor y;
        using (no_grad()) y = net.Predict(x, tensor(t4), labels is null ? Condition.None : new Condition { Labels = tensor(labels) });
        File.WriteAllBytes(Path.Combine(folder, "x.bin"), x.bytes.ToArray());
        File.WriteAllBytes(Path.Combine(folder, "y.bin"), y.contiguous().bytes.ToArray());
        File.WriteAllText(Path.Combine(folder, "input.json"), new JsonObject
        {
            ["x"] = new JsonArray(x.shape.Select(s => (JsonNode)s).ToArray()),
            ["t"] = new JsonArray(t4.Select(v => (JsonNode)v).ToArray()),
            ["labels"] = labels is null ? null : new JsonArray(labels.Select(v => (JsonNode)v).ToArray()),
        }.ToJsonString());
        return new JsonObject { ["parameters"] = net.ParameterCount };
    }

    public static double PeakRssMB() => Status("VmHWM:");

    private static double RssMB() => Status("VmRSS:");

    private static double Status(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field, StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        return double.NaN;
    }

    /// <summary>Random images in [−1, 1] with labels: speed does not depend on the pictures.</summary>
    private sealed class RandomImages(UNetOptions o) : ITrainingData
    {
        private readonly Tensor _images = (rand([1024, o.InChannels, o.SampleSize, o.SampleSize], generator: new Generator(1, CPU)) * 2 - 1).DetachFromDisposeScope();
        private readonly Tensor _labels = randint(0, o.NumClasses ?? 1, [1024], generator: new Generator(2, CPU)).DetachFromDisposeScope();

        public int Count => 1024;

        public TrainingBatch GetBatch(Tensor indices)
            => new(_images.index_select(0, indices), o.NumClasses is null ? null : _labels.index_select(0, indices));
    }

    private sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("diffusion-speed-").FullName;
        public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
    }

    /// <summary>
    /// Samples the bytes glibc's malloc has handed out and not taken back (mallinfo2: arena bytes in use plus mapped
    /// blocks) every 2 ms on a background thread: the memory tensors actually hold, which peak RSS overstates once freed
    /// memory stays with the process (the allocator tuning) or is fragmented.
    /// </summary>
    private sealed class LiveBytesSampler : IDisposable
    {
        private readonly Thread _thread;
        private volatile bool _stop;

        public LiveBytesSampler()
        {
            FirstMB = Now();
            PeakMB = FirstMB;
            _thread = new Thread(() =>
            {
                while (!_stop)
                {
                    double now = Now();
                    if (now > PeakMB) PeakMB = now;
                    Thread.Sleep(2);
                }
            }) { IsBackground = true };
            _thread.Start();
        }

        public double FirstMB { get; }

        public double PeakMB { get; private set; }

        public void Dispose()
        {
            _stop = true;
            _thread.Join();
        }

        private static double Now()
        {
            var m = mallinfo2();
            return ((double)m.Uordblks + m.Hblkhd) / 1048576.0;
        }

        [System.Runtime.InteropServices.DllImport("libc.so.6")]
        private static extern MallInfo2 mallinfo2();

        [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
        private struct MallInfo2
        {
            public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
        }
    }
}
