using Diffusion.Core;
using Diffusion.Core.Schedules;
using Diffusion.Core.Training;
using Diffusion.Models;
using Diffusion.Samplers;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Pipelines.Tests;

/// <summary>A cross-attention UNet behind a conditioner that emits a context and a mask (a stand-in for a text encoder).</summary>
public sealed class ContextGenerationTests
{
    private const int Dim = 8;

    private static UNetOptions CrossOptions() => TestPipelines.Small(classes: 0) with { AttentionHeadDim = 8, CrossAttentionDim = Dim };

    private static PipelineComponents Components(long seed = 0)
    {
        var o = CrossOptions();
        var unet = new UNet(o, new Generator((ulong)seed, CPU));
        unet.eval();
        return new PipelineComponents
        {
            Denoiser = unet,
            Scheduler = new NoiseSchedule(new ScheduleOptions()),
            Conditioner = new ToyContextConditioner(classes: 3, dim: Dim),
            SampleShape = [o.InChannels, o.SampleSize, o.SampleSize],
            ClipSample = 1.0,
        };
    }

    [Fact]
    public void GuidanceBatchesContextsOfDifferentLengthsLikeTwoSeparatePasses()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var c = Components();
        var toy = (ToyContextConditioner)c.Conditioner!;
        var cond = toy.Encode([2, 0, 1], CPU); // L = 3, rows with 3, 1 and 2 real tokens
        var uncond = toy.Unconditional(cond); // L = 1, no real token
        var x = randn(new long[] { 3, 1, 8, 8 }, generator: new Generator(4, CPU));
        var t = tensor(new float[] { 900, 500, 20 });
        var guided = new ClassifierFreeGuidance(c.Denoiser, 2.5, toy).Predict(x, t, cond);
        var y = c.Denoiser.Predict(x, t, cond);
        var u = c.Denoiser.Predict(x, t, uncond);
        var expected = u + (y - u) * 2.5;
        float diff = (guided - expected).abs().max().ToSingle();
        Assert.True(diff < 1e-4f, $"batched guidance differs from two passes by {diff}");
        Assert.True((y - u).abs().max().ToSingle() > 1e-4f, "the context made no difference");
    }

    [Fact]
    public void GenerationPassesTheContextThroughGuidance()
    {
        using var pipe = DiffusionPipeline.Create(Components());
        var request = new GenerationRequest { Count = 3, Classes = [0, 1, 2], Steps = 3, Sampler = "ddim", GuidanceScale = 3, Seed = 2, BatchSize = 2 };
        using var guided = pipe.Generate(request);
        using var plain = pipe.Generate(request with { GuidanceScale = 1 });
        using var unconditional = pipe.Generate(request with { Classes = null });
        Assert.Equal([3L, 1, 8, 8], guided.Images.shape);
        foreach (var r in new[] { guided, plain, unconditional })
            Assert.All(TestPipelines.Pixels(r), p => Assert.True(float.IsFinite(p)));
        Assert.NotEqual(TestPipelines.Pixels(guided), TestPipelines.Pixels(plain));
        Assert.NotEqual(TestPipelines.Pixels(plain), TestPipelines.Pixels(unconditional));
        Assert.Equal(3, guided.Parameters.GuidanceScale);
    }

    [Fact]
    public void ACrossAttentionModelFolderLoadsBitIdentical()
    {
        using var dir = new TempDir();
        var folder = Path.Combine(dir, "model");
        // The toy conditioner cannot be saved; the UNet and the schedule can.
        using var pipe = DiffusionPipeline.Create(Components(seed: 6) with { Conditioner = null });
        pipe.Save(folder);
        using var loaded = DiffusionPipeline.Load(folder, "cpu", Precision.Float32);
        var original = (UNet)pipe.Components.Denoiser;
        var copy = (UNet)loaded.Components.Denoiser;
        Assert.Equal(original.Options, copy.Options);
        var a = original.state_dict();
        var b = copy.state_dict();
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        Assert.Contains("mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight", b.Keys);
        foreach (var (k, t) in a) Assert.True(t.dtype == b[k].dtype && (t == b[k]).all().item<bool>(), k);

        float[] Predict(DiffusionPipeline p) => p.RunOnTorchThread(c =>
        {
            using var scope = NewDisposeScope();
            using var toy = new ToyContextConditioner(classes: 3, dim: Dim); // made on the pipeline's thread, like every tensor it reads
            using var noGrad = no_grad();
            var x = randn(new long[] { 2, 1, 8, 8 }, generator: new Generator(8, CPU));
            return c.Denoiser.Predict(x, tensor(new float[] { 10, 900 }), toy.Encode([2, 1], CPU)).data<float>().ToArray();
        }).GetAwaiter().GetResult();
        Assert.Equal(Predict(pipe), Predict(loaded));
    }

    [Fact]
    public void TheTrainerTrainsACrossAttentionUNetWithContextDropout()
    {
        using var dir = new TempDir();
        using var unet = new UNet(CrossOptions(), new Generator(1, CPU));
        using var toy = new ToyContextConditioner(classes: 3, dim: Dim);
        var before = unet.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var options = new TrainingOptions
        {
            BatchSize = 8, MaxSteps = 3, WarmupSteps = 1, LogEvery = 1, CheckpointEvery = 3, SampleEvery = null,
            LabelDropout = 0.5, Precision = Precision.Float32, Seed = 2,
        };
        using var trainer = new Trainer(unet, new NoiseSchedule(new ScheduleOptions()), toy, new LabelledNoise(), options, dir);
        trainer.Run();
        Assert.Equal(3, trainer.Step);
        var after = trainer.Weights;
        foreach (var key in new[] { "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight", "mid_block.attentions.0.transformer_blocks.0.attn2.to_v.weight" })
        {
            Assert.True(after[key].isfinite().all().ToBoolean(), key);
            Assert.False(after[key].equal(before[key]).all().ToBoolean(), $"{key} did not train");
        }
        foreach (var t in before.Values) t.Dispose();
    }

    /// <summary>32 random 8×8 images with labels 0 … 2.</summary>
    private sealed class LabelledNoise : ITrainingData
    {
        public int Count => 32;

        public TrainingBatch GetBatch(Tensor indices)
        {
            var g = new Generator(7, CPU);
            var images = rand(new long[] { Count, 1, 8, 8 }, generator: g) * 2 - 1;
            var labels = arange(Count, dtype: ScalarType.Int64) % 3;
            return new TrainingBatch(images.index_select(0, indices), labels.index_select(0, indices));
        }
    }
}
