using Diffusion.Core;
using Diffusion.Core.Conditioning;
using Diffusion.Core.Schedules;
using Diffusion.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Tests.Training;

/// <summary>Checkpoints prove their integrity, the previous one is kept, and non-finite steps are skipped, then stop the run.</summary>
[Collection("torch")]
public sealed class CheckpointIntegrityTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static TrainingOptions Options(int steps) => new()
    {
        BatchSize = 8, MaxSteps = steps, WarmupSteps = 1, LogEvery = 2, CheckpointEvery = 2, SampleEvery = null, Precision = Precision.Float32, Seed = 5,
    };

    private Trainer NewTrainer(string run, TrainingOptions options, ITrainingObjective? objective = null)
    {
        manual_seed(1);
        var net = new TinyDenoiser();
        return new Trainer(net, new NoiseSchedule(new ScheduleOptions()), new ClassConditioner(3), new RandomData(), options, run, objective: objective);
    }

    private string Trained(string name, int steps)
    {
        var run = Path.Combine(_dir, name);
        using (var t = NewTrainer(run, Options(steps))) t.Run();
        return run;
    }

    public static TheoryData<string> CheckpointFiles => new() { Trainer.ModelFile, Trainer.EmaFile, "optimizer.safetensors", "state.json" };

    [Theory]
    [MemberData(nameof(CheckpointFiles))]
    public void AFlippedByteInAnyFileIsRefusedByName(string file)
    {
        var run = Trained("flip", 4);
        var path = Path.Combine(Trainer.CheckpointDirectory(run), file);
        var bytes = File.ReadAllBytes(path);
        long length = bytes.Length;
        bytes[bytes.Length / 2] ^= 0x10;                  // same length, one bit changed in the middle
        File.WriteAllBytes(path, bytes);
        Assert.Equal(length, new FileInfo(path).Length);
        var e = Assert.Throws<DiffusionException>(() => NewTrainer(run, Options(6)));
        Assert.Contains(file, e.Message);
        Assert.Contains("corrupted", e.Message);
        Assert.Contains("--from previous", e.Message);

        // The previous checkpoint is kept, verified and resumable.
        using var resumed = NewTrainer(run, Options(6) with { ResumeFrom = ResumePoint.Previous });
        Assert.Equal(2, resumed.Step);
    }

    [Fact]
    public void ResumingFromThePreviousCheckpointEqualsTheUninterruptedRun()
    {
        var straight = Trained("straight", 6);
        var run = Trained("again", 4);
        using (var t = NewTrainer(run, Options(6) with { ResumeFrom = ResumePoint.Previous })) { Assert.Equal(2, t.Step); t.Run(); }
        var a = File.ReadAllBytes(Path.Combine(Trainer.CheckpointDirectory(straight), Trainer.EmaFile));
        var b = File.ReadAllBytes(Path.Combine(Trainer.CheckpointDirectory(run), Trainer.EmaFile));
        Assert.Equal(a, b);
    }

    [Fact]
    public void OnlyTheConfiguredNumberOfCheckpointsIsKept()
    {
        var run = Path.Combine(_dir, "keep");
        using (var t = NewTrainer(run, Options(8) with { KeepCheckpoints = 3 })) t.Run();
        var kept = Directory.GetDirectories(Path.Combine(run, "checkpoints")).Select(d => Path.GetFileName(d)!).Order().ToArray();
        Assert.Equal(["latest", "previous", "previous-2"], kept);
        Assert.All(kept, k => Assert.True(File.Exists(Path.Combine(run, "checkpoints", k, FileManifest.FileName))));
    }

    /// <summary>Returns NaN for the steps listed, the plain denoising loss otherwise.</summary>
    private sealed class NanAt(INoiseScheduler schedule, Func<int, bool> poison) : ITrainingObjective
    {
        private readonly DiffusionObjective _inner = new(schedule, Prediction.Epsilon);
        private int _calls;

        public Tensor Loss(nn.Module<Tensor, Tensor, Condition, Tensor> network, Tensor x0, Condition condition, Generator generator)
        {
            var loss = _inner.Loss(network, x0, condition, generator);
            return poison(_calls++) ? loss * float.NaN : loss;
        }
    }

    [Fact]
    public void ANonFiniteStepIsSkippedWithAWarning()
    {
        var run = Path.Combine(_dir, "nan-once");
        var warnings = new List<string>();
        using var t = NewTrainer(run, Options(6), new NanAt(new NoiseSchedule(new ScheduleOptions()), call => call == 3));
        t.Log = new SyncProgress<string>(warnings.Add);
        var result = t.Run();
        Assert.Equal(6, result.Steps);
        Assert.Equal(1, t.SkippedSteps);
        Assert.Contains(warnings, w => w.Contains("Step 4") && w.Contains("skipped"));
        Assert.True(t.Weights.Values.All(w => isfinite(w).all().item<bool>()));
        Assert.Contains("\"skippedSteps\":1", File.ReadAllText(Path.Combine(run, "metrics.jsonl")));
    }

    [Fact]
    public void NonFiniteStepsInARowStopTheRunAndKeepTheLastGoodCheckpoint()
    {
        var run = Path.Combine(_dir, "nan-always");
        using var t = NewTrainer(run, Options(20) with { MaxSkippedSteps = 2 }, new NanAt(new NoiseSchedule(new ScheduleOptions()), call => call >= 4));
        var e = Assert.Throws<DiffusionException>(() => t.Run());
        Assert.Contains("not finite in 3 steps in a row", e.Message);
        Assert.Contains("last good checkpoint", e.Message);
        // Steps 1-4 trained, 5 and 6 skipped (the weights stay those of step 4, so the checkpoint at step 6 is good), 7 stops.
        FileManifest.Verify(Trainer.CheckpointDirectory(run), "latest");
        Assert.Contains("\"step\": 6", File.ReadAllText(Path.Combine(Trainer.CheckpointDirectory(run), "state.json")));
        var ema = StateDicts.Load(Path.Combine(Trainer.CheckpointDirectory(run), Trainer.EmaFile));
        try { Assert.True(ema.Values.All(w => isfinite(w).all().item<bool>())); }
        finally { foreach (var w in ema.Values) w.Dispose(); }
    }
}
