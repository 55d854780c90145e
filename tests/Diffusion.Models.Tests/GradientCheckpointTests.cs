using Diffusion.Core;
using Diffusion.Core.Training;
using TorchSharp;
using static Diffusion.Models.Tests.TestModels;
using static TorchSharp.torch;

namespace Diffusion.Models.Tests;

[Collection(TorchCollection.Name)]
public sealed class GradientCheckpointTests
{
    // Attention at every level and dropout, so the recomputation must replay the dropout masks to match.
    private static UNetOptions Options => Small(classes: 3) with { AttentionLevels = [0, 1], Dropout = 0.2 };

    private static (float[] Output, Dictionary<string, float[]> Grads, float[] InputGrad) Step(UNet model, bool checkpointing, bool autocast = false)
    {
        using var scope = NewDisposeScope();
        model.GradientCheckpointing = checkpointing;
        model.train();
        model.zero_grad();
        var x = Noise(model.Options, 3).requires_grad_(true);
        manual_seed(11); // the dropout masks
        Tensor y;
        using (autocast ? Autocast.Enter(CPU) : null) y = model.Predict(x, Timesteps(5, 500, 999), new Condition { Labels = Labels(0, 1, 3) });
        (y.square().mean() + y.mean()).backward();
        var grads = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.data<float>().ToArray());
        return (y.data<float>().ToArray(), grads, x.grad!.data<float>().ToArray());
    }

    private static void AssertClose(float[] expected, float[] actual, string what, double relative = 1e-5, double floor = 0)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(v => Math.Abs(v)) + 1e-12, worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        Assert.True(worst <= relative * Math.Max(scale, floor) + 1e-7, $"{what}: differs by {worst:G3} (scale {scale:G3})");
    }

    [Fact]
    public void CheckpointedGradientsEqualPlainOnes()
    {
        using var model = Build(Options);
        var plain = Step(model, checkpointing: false);
        var checkpointed = Step(model, checkpointing: true);
        Assert.Equal(plain.Output, checkpointed.Output); // the forward pass is the same computation
        AssertClose(plain.InputGrad, checkpointed.InputGrad, "input gradient");
        Assert.Equal(plain.Grads.Keys, checkpointed.Grads.Keys);
        foreach (var (name, g) in plain.Grads) AssertClose(g, checkpointed.Grads[name], name);
        Assert.Contains(plain.Grads, kv => kv.Key.Contains("attentions", StringComparison.Ordinal) && kv.Value.Any(v => v != 0));
    }

    [Fact]
    public void WithoutReplayingTheRandomNumbersTheGradientsWouldDiffer()
    {
        // The control for the test above: two plain steps with different dropout masks give different gradients, so
        // equal gradients there mean the recomputation did replay the masks.
        using var model = Build(Options);
        var a = Step(model, checkpointing: false);
        model.GradientCheckpointing = false;
        using var scope = NewDisposeScope();
        model.zero_grad();
        var x = Noise(model.Options, 3);
        manual_seed(12);
        var y = model.Predict(x, Timesteps(5, 500, 999), new Condition { Labels = Labels(0, 1, 3) });
        (y.square().mean() + y.mean()).backward();
        var w = model.named_parameters().First(p => p.name.EndsWith("conv1.weight", StringComparison.Ordinal));
        Assert.NotEqual(a.Grads[w.name], w.parameter.grad!.data<float>().ToArray());
    }

    [Fact]
    public void CheckpointingUnderAutocastMatchesPlainAutocast()
    {
        using var model = Build(Options with { Dropout = 0 });
        var plain = Step(model, checkpointing: false, autocast: true);
        var checkpointed = Step(model, checkpointing: true, autocast: true);
        Assert.Equal(plain.Output, checkpointed.Output);
        // The backward passes run their products in bf16 (8 mantissa bits, 0.4 % per rounding) and sum the gradient
        // contributions in another order, so they agree to bf16 precision, not bit for bit.
        // Tensors whose gradient is zero in exact arithmetic (the key biases: softmax ignores them) hold only rounding
        // noise, so they are compared on the scale of the largest gradient.
        double largest = plain.Grads.Values.Max(g => g.Max(v => Math.Abs(v)));
        foreach (var (name, g) in plain.Grads) AssertClose(g, checkpointed.Grads[name], name, relative: 1e-2, floor: 1e-3 * largest);
    }

    [Fact]
    public void CrossAttentionBlocksCheckpointWithTheContextGradient()
    {
        using var model = Build(Options with { Dropout = 0, CrossAttentionDim = 12 });
        (float[] Grad, Dictionary<string, float[]> Weights) Run(bool checkpointing)
        {
            using var scope = NewDisposeScope();
            model.GradientCheckpointing = checkpointing;
            model.zero_grad();
            var context = Context(2, 5).requires_grad_(true);
            var y = model.Predict(Noise(model.Options, 2), Timesteps(5, 500),
                new Condition { Labels = Labels(0, 1), Context = context, ContextMask = Mask(5, 5, 3) });
            y.square().mean().backward();
            return (context.grad!.data<float>().ToArray(), model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.data<float>().ToArray()));
        }
        var plain = Run(false);
        var checkpointed = Run(true);
        Assert.Contains(plain.Grad, v => v != 0);
        AssertClose(plain.Grad, checkpointed.Grad, "context gradient");
        Assert.Contains(plain.Weights.Keys, k => k.Contains("attn2", StringComparison.Ordinal));
        foreach (var (name, g) in plain.Weights) AssertClose(g, checkpointed.Weights[name], name);
    }

    [Fact]
    public void FrozenParametersStayWithoutGradients()
    {
        using var model = Build(Options with { Dropout = 0 });
        foreach (var (name, p) in model.named_parameters())
            if (name.StartsWith("down_blocks", StringComparison.Ordinal)) p.requires_grad = false;
        model.GradientCheckpointing = true;
        using var scope = NewDisposeScope();
        var y = model.Predict(Noise(model.Options, 2), Timesteps(5, 500), new Condition { Labels = Labels(0, 1) });
        y.square().mean().backward();
        foreach (var (name, p) in model.named_parameters())
        {
            if (name.StartsWith("down_blocks", StringComparison.Ordinal)) Assert.True(p.grad is null, $"{name} is frozen but got a gradient");
            else Assert.True(p.grad is not null && p.grad.abs().sum().ToSingle() > 0, $"{name} got no gradient");
        }
    }

    [Fact]
    public void InferenceIsUnchanged()
    {
        using var model = Build(Options);
        model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = Noise(model.Options, 2);
        var cond = new Condition { Labels = Labels(2, 0) };
        var plain = model.Predict(x, Timesteps(1, 800), cond);
        model.GradientCheckpointing = true;
        Assert.Equal(0f, MaxAbsDiff(plain, model.Predict(x, Timesteps(1, 800), cond)));
    }

    [Fact]
    public void TrainerWithCheckpointingTrainsTheSameWeights()
    {
        Dictionary<string, float[]> Train(bool checkpointing)
        {
            using var dir = new Diffusion.Tests.TempDir();
            using var model = Build(Options with { Dropout = 0 });
            var options = new TrainingOptions
            {
                BatchSize = 4, MaxSteps = 3, WarmupSteps = 1, LogEvery = 1, CheckpointEvery = 100, SampleEvery = null,
                Precision = Precision.Float32, Seed = 3, GradientCheckpointing = checkpointing,
            };
            using var trainer = new Trainer(model, new Diffusion.Core.Schedules.NoiseSchedule(new Diffusion.Core.Schedules.ScheduleOptions()),
                new Diffusion.Core.Conditioning.ClassConditioner(3), new Images(model.Options), options, dir);
            trainer.Run();
            Assert.Equal(checkpointing, model.GradientCheckpointing);
            return trainer.Weights.ToDictionary(kv => kv.Key, kv => kv.Value.data<float>().ToArray());
        }
        var plain = Train(false);
        var checkpointed = Train(true);
        using var init = Build(Options with { Dropout = 0 });
        var start = init.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.data<float>().ToArray());
        double Distance(Dictionary<string, float[]> a, Dictionary<string, float[]> b)
            => Math.Sqrt(a.Sum(kv => kv.Value.Zip(b[kv.Key], (u, v) => (double)(u - v) * (u - v)).Sum()));
        // AdamW turns the rounding noise of a zero gradient (a key bias) into a full-size step, so the runs are compared
        // on how far training moved the weights, not tensor by tensor.
        double moved = Distance(plain, start), apart = Distance(checkpointed, plain);
        Assert.True(moved > 0);
        Assert.True(apart < 0.01 * moved, $"checkpointed weights are {apart:G3} from the plain ones; training moved them {moved:G3}");
    }

    private sealed class Images(UNetOptions o) : ITrainingData
    {
        private readonly Tensor _x = (rand([16, o.InChannels, o.SampleSize, o.SampleSize], generator: new Generator(4, CPU)) * 2 - 1).DetachFromDisposeScope();
        private readonly Tensor _y = randint(0, 3, [16], generator: new Generator(5, CPU)).DetachFromDisposeScope();
        public int Count => 16;
        public TrainingBatch GetBatch(Tensor indices) => new(_x.index_select(0, indices), _y.index_select(0, indices));
    }
}
