using Diffusion.Core;
using Diffusion.Core.Conditioning;
using Diffusion.Core.Schedules;
using Diffusion.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Tests.Training;

[Collection("torch")]
public sealed class TrainerTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static TrainingOptions Options(int steps, Precision precision = Precision.Float32) => new()
    {
        BatchSize = 8, MaxSteps = steps, WarmupSteps = 2, LogEvery = 2, CheckpointEvery = 100, SampleEvery = null,
        Precision = precision, Seed = 7, LabelDropout = 0.2, HorizontalFlip = true,
    };

    private static Dictionary<string, float[]> Snapshot(IReadOnlyDictionary<string, Tensor> d)
        => d.ToDictionary(kv => kv.Key, kv => kv.Value.data<float>().ToArray());

    private (Dictionary<string, float[]> Weights, Dictionary<string, float[]> Ema, int Step) Train(string dir, TrainingOptions options)
    {
        manual_seed(1);
        using var net = new TinyDenoiser();
        using var trainer = new Trainer(net, new NoiseSchedule(new ScheduleOptions()), new ClassConditioner(3), new RandomData(), options, dir);
        trainer.Run();
        return (Snapshot(trainer.Weights), Snapshot(trainer.EmaWeights), trainer.Step);
    }

    [Theory]
    [InlineData(Precision.Float32)]
    [InlineData(Precision.BFloat16)]
    [InlineData(Precision.Autocast)]
    public void ResumedRunEqualsUninterruptedRun(Precision precision)
    {
        var straight = Train(Path.Combine(_dir, "a"), Options(10, precision));
        Train(Path.Combine(_dir, "b"), Options(4, precision));
        var resumed = Train(Path.Combine(_dir, "b"), Options(10, precision));
        Assert.Equal(10, straight.Step);
        Assert.Equal(10, resumed.Step);
        foreach (var (name, w) in straight.Weights) Assert.Equal(w, resumed.Weights[name]);
        foreach (var (name, w) in straight.Ema) Assert.Equal(w, resumed.Ema[name]);
        var lines = File.ReadAllLines(Path.Combine(_dir, "b", "metrics.jsonl"));
        Assert.Equal(5, lines.Length); // steps 2, 4 | 6, 8, 10
    }

    [Fact]
    public void AutocastKeepsFloat32ParametersAndFollowsTheFloat32Run()
    {
        var full = Train(Path.Combine(_dir, "fp32"), Options(10));
        var amp = Train(Path.Combine(_dir, "amp"), Options(10, Precision.Autocast));
        var bf16 = Train(Path.Combine(_dir, "bf16"), Options(10, Precision.BFloat16));
        double Distance(Dictionary<string, float[]> a, Dictionary<string, float[]> b)
            => Math.Sqrt(a.Sum(kv => kv.Value.Zip(b[kv.Key], (u, v) => (double)(u - v) * (u - v)).Sum()));
        manual_seed(1);
        using var init = new TinyDenoiser();
        var start = Snapshot(init.state_dict());
        double moved = Distance(full.Weights, start), ampError = Distance(amp.Weights, full.Weights), bf16Error = Distance(bf16.Weights, full.Weights);
        Assert.True(ampError > 0, "autocast computed exactly what float32 did: the scope had no effect");
        // Ten AdamW steps of 1e-3 move the weights by `moved`; bf16 rounding may change that path by a fraction of it.
        Assert.True(ampError < 0.1 * moved, $"autocast strayed {ampError} from float32 (the run moved {moved})");
        Assert.True(ampError <= 1.5 * bf16Error, $"autocast strayed {ampError}, whole-network bf16 {bf16Error}");
    }

    [Fact]
    public void GradientCheckpointingNeedsANetworkThatSupportsIt()
    {
        using var net = new TinyDenoiser();
        var e = Assert.Throws<DiffusionException>(() => new Trainer(net, new NoiseSchedule(new ScheduleOptions()), new ClassConditioner(3),
            new RandomData(), Options(2) with { GradientCheckpointing = true }, _dir));
        Assert.Contains("ISupportsGradientCheckpointing", e.Message);
    }

    [Fact]
    public void TrainingChangesWeightsAndEmaLags()
    {
        manual_seed(1);
        using var net = new TinyDenoiser();
        var before = Snapshot(net.state_dict());
        using var trainer = new Trainer(net, new NoiseSchedule(new ScheduleOptions()), new ClassConditioner(3), new RandomData(), Options(20), _dir);
        var result = trainer.Run();
        Assert.Equal(20, result.Steps);
        Assert.True(double.IsFinite(result.FinalLoss));
        var after = Snapshot(trainer.Weights);
        var ema = Snapshot(trainer.EmaWeights);
        var name = "conv1.weight";
        Assert.NotEqual(before[name], after[name]);
        Assert.NotEqual(after[name], ema[name]);
        Assert.True(File.Exists(Path.Combine(Trainer.CheckpointDirectory(_dir), Trainer.EmaFile)));
        Assert.True(File.Exists(Path.Combine(_dir, "training.json")));
    }

    [Fact]
    public void LossDecreasesOnFixedData()
    {
        manual_seed(1);
        using var net = new TinyDenoiser();
        var o = Options(150) with { LearningRate = 5e-3, LabelDropout = 0, LogEvery = 25 };
        using var trainer = new Trainer(net, new NoiseSchedule(new ScheduleOptions()), null, new RandomData(), o, _dir);
        var losses = new List<double>();
        trainer.Run(new SyncProgress<TrainingProgress>(p => losses.Add(p.Loss)));
        Assert.Equal(6, losses.Count);
        Assert.True(losses[^1] < losses[0] * 0.9, $"loss went {losses[0]} -> {losses[^1]}");
    }

    [Fact]
    public void CancellationSavesCheckpointAndStops()
    {
        manual_seed(1);
        using var net = new TinyDenoiser();
        using var cts = new CancellationTokenSource();
        using var trainer = new Trainer(net, new NoiseSchedule(new ScheduleOptions()), null, new RandomData(), Options(1000), _dir);
        var result = trainer.Run(new SyncProgress<TrainingProgress>(p => { if (p.Step >= 4) cts.Cancel(); }), null, cts.Token);
        Assert.True(result.Cancelled);
        Assert.Equal(4, result.Steps);
        var state = OptionsJson.Load<TrainerState>(Path.Combine(Trainer.CheckpointDirectory(_dir), "state.json"));
        Assert.Equal(4, state.Step);
    }

    [Fact]
    public void TrainingLoopKeepsLiveTensorCountFlat()
    {
        manual_seed(1);
        using var net = new TinyDenoiser();
        var o = Options(10) with { LogEvery = 5, CheckpointEvery = 5 };
        using var trainer = new Trainer(net, new NoiseSchedule(new ScheduleOptions()), new ClassConditioner(3), new RandomData(), o, _dir);
        trainer.Run();
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        using var trainer2 = new Trainer(net, new NoiseSchedule(new ScheduleOptions()), new ClassConditioner(3), new RandomData(), o with { MaxSteps = 60 }, _dir);
        long afterCtor = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        trainer2.Run();
        long after = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        Assert.True(after - afterCtor <= 1, $"live tensors grew by {after - afterCtor} over 50 steps (before {before})");
    }

    [Fact]
    public void CorruptedCheckpointGivesErrorNamingFile()
    {
        Train(_dir, Options(2));
        var path = Path.Combine(Trainer.CheckpointDirectory(_dir), Trainer.ModelFile);
        File.WriteAllBytes(path, new byte[] { 1, 2, 3 });
        var e = Assert.Throws<DiffusionException>(() => Train(_dir, Options(4)));
        Assert.Contains(path, e.Message);
    }
}
