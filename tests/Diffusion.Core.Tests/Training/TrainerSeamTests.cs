using Diffusion.Core;
using Diffusion.Core.Conditioning;
using Diffusion.Core.Schedules;
using Diffusion.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Tests.Training;

/// <summary>The trainer's seams: objective, gradient accumulation, gradient hook, frozen parameters.</summary>
[Collection("torch")]
public sealed class TrainerSeamTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A deterministic objective (no random draws): the network's output at t = 500 regressed on the clean image.</summary>
    private sealed class Reconstruct : ITrainingObjective
    {
        public int Calls;

        public Tensor Loss(nn.Module<Tensor, Tensor, Condition, Tensor> network, Tensor x0, Condition condition, Generator generator)
        {
            Calls++;
            var t = full(new[] { x0.shape[0] }, 500f);
            return (network.forward(x0, t, condition) - x0).square().mean();
        }
    }

    private static TrainingOptions Options(int batch, int accumulation, int steps = 4) => new()
    {
        BatchSize = batch, GradientAccumulation = accumulation, MaxSteps = steps, WarmupSteps = 0, LogEvery = 1, CheckpointEvery = 100,
        SampleEvery = null, Precision = Precision.Float32, Seed = 3, LabelDropout = 0, GradientClip = null, EmaDecay = 0.5,
    };

    private Dictionary<string, float[]> Train(string name, TrainingOptions options, Action<Trainer>? setup = null, Action<TinyDenoiser>? prepare = null,
        Action<TinyDenoiser>? after = null)
    {
        manual_seed(1);
        using var net = new TinyDenoiser();
        prepare?.Invoke(net);
        var objective = new Reconstruct();
        using var trainer = new Trainer(net, new NoiseSchedule(new ScheduleOptions()), new ClassConditioner(3), new RandomData(), options,
            Path.Combine(_dir, name), objective: objective);
        setup?.Invoke(trainer);
        trainer.Run();
        after?.Invoke(net);
        Assert.Equal(options.MaxSteps * options.GradientAccumulation, objective.Calls);
        return trainer.Weights.ToDictionary(kv => kv.Key, kv => kv.Value.data<float>().ToArray());
    }

    [Fact]
    public void AccumulatingMicroBatchesEqualsOneLargeBatch()
    {
        var large = Train("large", Options(batch: 8, accumulation: 1));
        var accumulated = Train("accumulated", Options(batch: 4, accumulation: 2));
        var other = Train("other", Options(batch: 4, accumulation: 1)); // half the data per step: must differ
        double maxDiff = 0, otherDiff = 0;
        foreach (var (name, w) in large)
            for (int i = 0; i < w.Length; i++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(w[i] - accumulated[name][i]));
                otherDiff = Math.Max(otherDiff, Math.Abs(w[i] - other[name][i]));
            }
        Assert.True(maxDiff < 1e-5, $"accumulated weights differ by {maxDiff}");
        Assert.True(otherDiff > 1e-3, $"a smaller batch should train differently (differs by {otherDiff})");
        Assert.True(File.ReadAllLines(Path.Combine(_dir, "accumulated", "metrics.jsonl")).Length == 4);
    }

    [Fact]
    public void TheGradientHookSeesTheFlatBufferOncePerStepAndMayChangeIt()
    {
        var sizes = new List<long>();
        Train("hooked", Options(batch: 4, accumulation: 3), trainer => trainer.GradientHook = g => sizes.Add(g.numel()));
        Assert.Equal(4, sizes.Count);                                  // once per optimizer step, not per micro-batch
        manual_seed(1);
        using (var probe = new TinyDenoiser()) Assert.All(sizes, s => Assert.Equal(probe.parameters().Sum(p => p.numel()), s));

        // Zeroing the gradient in the hook leaves the weights where they started (AdamW without weight decay, no step).
        var plain = Train("plain", Options(batch: 4, accumulation: 1, steps: 1) with { WeightDecay = 0 });
        var zeroed = Train("zeroed", Options(batch: 4, accumulation: 1, steps: 1) with { WeightDecay = 0 }, trainer => trainer.GradientHook = g => g.zero_());
        manual_seed(1);
        using var initial = new TinyDenoiser();
        var start = initial.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.data<float>().ToArray());
        foreach (var (name, w) in zeroed) Assert.Equal(start[name], w);
        Assert.Contains(plain, kv => !kv.Value.SequenceEqual(start[kv.Key]));
    }

    [Theory]
    [InlineData(Precision.Float32)]
    [InlineData(Precision.BFloat16)]
    public void FrozenParametersStayAndAreNotCheckpointed(Precision precision)
    {
        float[]? frozenBefore = null, frozenAfter = null, trainedBefore = null, trainedAfter = null;
        static float[] Values(TinyDenoiser net, string name) => net.named_parameters().First(p => p.name == name).parameter.to(ScalarType.Float32).data<float>().ToArray();
        var weights = Train($"frozen-{precision}", Options(batch: 8, accumulation: 1) with { Precision = precision }, prepare: net =>
        {
            foreach (var (name, p) in net.named_parameters())
                if (name.StartsWith("conv1", StringComparison.Ordinal)) p.requires_grad = false;
            // The trainer converts the whole module to the compute dtype (documented), frozen parts included.
            var w = net.named_parameters().First(p => p.name == "conv1.weight").parameter;
            frozenBefore = (precision == Precision.BFloat16 ? w.to(ScalarType.BFloat16) : w).to(ScalarType.Float32).data<float>().ToArray();
            trainedBefore = Values(net, "conv2.weight");
        }, after: net => { frozenAfter = Values(net, "conv1.weight"); trainedAfter = Values(net, "conv2.weight"); });
        Assert.Equal(frozenBefore, frozenAfter);
        Assert.NotEqual(trainedBefore, trainedAfter);
        Assert.DoesNotContain(weights.Keys, k => k.StartsWith("conv1", StringComparison.Ordinal));
        Assert.Contains("conv2.weight", weights.Keys);
        var saved = StateDicts.Load(Path.Combine(_dir, $"frozen-{precision}", "checkpoints", "latest", Trainer.ModelFile));
        try { Assert.DoesNotContain(saved.Keys, k => k.StartsWith("conv1", StringComparison.Ordinal)); }
        finally { foreach (var t in saved.Values) t.Dispose(); }
    }

    [Fact]
    public void AccumulationBelowOneIsOneError()
    {
        var e = Assert.Throws<DiffusionException>(() => Options(batch: 4, accumulation: 0).Validate());
        Assert.Contains("GradientAccumulation", e.Message);
    }
}
