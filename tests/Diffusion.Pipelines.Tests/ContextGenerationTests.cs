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
}
