using System.Text.Json;
using Diffusion.Core;
using Diffusion.Core.Data;
using Diffusion.Core.Training;
using Diffusion.Models;
using Diffusion.Pipelines.Training;
using Diffusion.Tests;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Pipelines.Tests;

public sealed class VaeTrainingTests
{
    private static readonly AutoencoderKLOptions Small = new() { BlockOutChannels = [16, 16], NormGroups = 8, SampleSize = 8 };

    /// <summary>16 seeded 8×8 RGB images.</summary>
    private static ImageDataset Data()
    {
        using var scope = NewDisposeScope();
        var pixels = randint(0, 256, new long[] { 16, 3, 8, 8 }, dtype: ScalarType.Byte, generator: new Generator(4, CPU));
        return new ImageDataset(pixels.MoveToOuterDisposeScope(), zeros(16, dtype: ScalarType.Int64).MoveToOuterDisposeScope(), ["x"]);
    }

    [Fact]
    public void TheObjectiveIsTheReconstructionErrorPlusTheWeightedKl()
    {
        using var scope = NewDisposeScope();
        using var vae = new AutoencoderKL(Small, new Generator(1, CPU));
        using var view = vae.ForTraining();
        using var data = Data();
        var x = data.GetBatch(arange(4, dtype: ScalarType.Int64)).Images;
        var posterior = vae.EncodeDistribution(x);
        var expected = (vae.DecodeRaw(posterior.Sample(new Generator(9, CPU))) - x).square().mean().item<float>();
        var l2 = new VaeObjective(new VaeObjectiveOptions { Reconstruction = ReconstructionLoss.L2, KlWeight = 0 });
        Assert.Equal(expected, l2.Loss(view, x, Condition.None, new Generator(9, CPU)).item<float>(), 5);

        var weighted = new VaeObjective(new VaeObjectiveOptions { Reconstruction = ReconstructionLoss.L1, KlWeight = 0.5 });
        var (loss, rec, kl) = weighted.Terms(view, x, new Generator(9, CPU));
        // KL per element summed over the latent (4x4x4) and divided by the 3x8x8 pixels.
        double klByHand = posterior.KlPerElement().sum([1, 2, 3]).mean().item<float>() / 192.0;
        Assert.Equal(klByHand, kl.item<float>(), 5);
        Assert.True(kl.item<float>() > 0);
        Assert.Equal(rec.item<float>() + 0.5 * kl.item<float>(), loss.item<float>(), 5);
        Assert.NotEqual(expected, rec.item<float>(), 3); // L1 is not L2
        Assert.Throws<DiffusionException>(() => new VaeObjectiveOptions { KlWeight = -1 }.Validate());
    }

    /// <summary>The SDK's trainer trains the VAE through its objective; a run stopped and resumed ends with exactly the
    /// weights and EMA of an uninterrupted one.</summary>
    [Fact]
    public void AResumedVaeRunEqualsAnUninterruptedOne()
    {
        using var dir = new TempDir();
        using var data = Data();
        TrainingOptions Options(int steps) => new()
        {
            BatchSize = 4, MaxSteps = steps, WarmupSteps = 1, LearningRate = 1e-3, LogEvery = 1, CheckpointEvery = 100, SampleEvery = null,
            Precision = Precision.Float32, Seed = 3, Augmentation = new AugmentationOptions { HorizontalFlip = true, Brightness = 0.1 },
        };
        Dictionary<string, Tensor> Train(string run, int steps)
        {
            using var vae = new AutoencoderKL(Small, new Generator(1, CPU));
            using var view = vae.ForTraining();
            using var trainer = new Trainer(view, null, null, data, Options(steps), run, objective: new VaeObjective());
            var result = trainer.Run();
            Assert.Equal(steps, result.Steps);
            Assert.True(double.IsFinite(result.FinalLoss));
            return trainer.EmaWeights.Concat(trainer.Weights.Select(kv => KeyValuePair.Create("w." + kv.Key, kv.Value)))
                .ToDictionary(kv => kv.Key, kv => kv.Value.clone().DetachFromDisposeScope());
        }
        var straight = Train(Path.Combine(dir, "a"), 4);
        Train(Path.Combine(dir, "b"), 2);
        var resumed = Train(Path.Combine(dir, "b"), 4);
        using var fresh = new AutoencoderKL(Small, new Generator(1, CPU));
        Assert.Contains("encoder.mid_block.attentions.0.to_q.weight", straight.Keys);
        foreach (var (name, w) in straight)
            Assert.True(w.eq(resumed[name]).all().item<bool>(), $"{name} differs after resume");
        // And training changed the weights.
        Assert.False(straight["w.encoder.conv_in.weight"].eq(fresh.state_dict()["encoder.conv_in.weight"]).all().item<bool>());
        foreach (var t in straight.Values.Concat(resumed.Values)) t.Dispose();
    }

    [Fact]
    public void ANetworkThatIsNotADenoiserNeedsAnObjective()
    {
        using var dir = new TempDir();
        using var data = Data();
        using var vae = new AutoencoderKL(Small);
        using var view = vae.ForTraining();
        var e = Assert.Throws<DiffusionException>(() => new Trainer(view, null, null, data, new TrainingOptions { BatchSize = 4, MaxSteps = 1 }, dir));
        Assert.Contains("objective", e.Message);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void TrainVaeWritesTheModelWithItsScalingFactorAGridAndScores()
    {
        using var dir = new TempDir();
        var images = Path.Combine(dir, "images");
        TinyRuns.WriteImages(images, classFolders: false);
        var request = new VaeTrainRunOptions
        {
            Preset = "tiny-vae", Dataset = Datasets.FolderPrefix + images, OutputDirectory = Path.Combine(dir, "vae"), Steps = 3, BatchSize = 8,
            Precision = Precision.Float32,
        };
        var run = VaeRunTrainer.Run(request);
        var e = run.Evaluation!;
        Assert.Equal(3, run.Training.Steps);
        Assert.True(e.ScalingFactor > 0 && double.IsFinite(e.ScalingFactor) && e.ScalingFactor != 1);
        Assert.Equal([4L, 14, 14], e.LatentShape);
        Assert.Equal(4, e.EvalCount); // the flat folder's held-out tenth
        Assert.True(e.Psnr > 0 && double.IsFinite(e.Psnr), $"PSNR {e.Psnr}");
        Assert.InRange(e.Ssim, -1, 1);

        using var vae = AutoencoderKL.Load(run.ModelDirectory);
        Assert.Equal(e.ScalingFactor, vae.ScalingFactor);
        Assert.Equal(1, vae.ImageChannels);
        using (var grid = SixLabors.ImageSharp.Image.Load(Path.Combine(run.RunDirectory, VaeRunTrainer.GridFile)))
        {
            // 4 held-out images in a row, reconstructions below: 2 rows of 28-px tiles scaled 2x with 2 px padding.
            Assert.Equal(2 * (2 * 28 + 2) + 2, grid.Height);
            Assert.Equal(4 * (2 * 28 + 2) + 2, grid.Width);
        }
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(run.RunDirectory, VaeRunTrainer.ResultFile))).RootElement;
        Assert.Equal(e.Psnr, json.GetProperty("psnr").GetDouble());
        Assert.Equal(e.Ssim, json.GetProperty("ssim").GetDouble());

        // The same command resumes: two more steps from the checkpoint.
        var more = VaeRunTrainer.Run(request with { Steps = 5 });
        Assert.Equal(5, more.Training.Steps);
        Assert.Equal(Datasets.FolderPrefix + images, more.Options.Dataset);
    }

    [Fact]
    public void BadRequestsAreOneErrorEach()
    {
        using var dir = new TempDir();
        Assert.Contains("Unknown VAE preset", Assert.Throws<DiffusionException>(() => VaeRunTrainer.Resolve(new VaeTrainRunOptions { Preset = "nope" })).Message);
        File.WriteAllText(Path.Combine(dir, RunOptions.FileName), "{}");
        Assert.Contains("diffusion run", Assert.Throws<DiffusionException>(() => VaeRunTrainer.Resolve(new VaeTrainRunOptions { OutputDirectory = dir })).Message);
        Assert.Throws<DiffusionException>(() => VaeRunTrainer.Resolve(new VaeTrainRunOptions { Preset = "tiny-vae", KlWeight = -1, OutputDirectory = Path.Combine(dir, "x") }));
    }

    [Fact]
    public void VaePresetsAreValidAndDownsampleToSixteenBySixteenLatents()
    {
        foreach (var name in new[] { "faces-vae", "faces128-vae" })
        {
            var p = VaePresets.Get(name);
            p.Validate();
            Assert.Equal(16, p.Model.SampleSize / p.Model.DownsampleFactor);
            Assert.Equal(4, p.Model.LatentChannels);
            Assert.True(p.Training.ResolvedAugmentation.HorizontalFlip);
            // The options survive their JSON file.
            var back = JsonSerializer.Deserialize<VaeRunOptions>(OptionsJson.Serialize(p), OptionsJson.Options)!;
            Assert.Equal(p.Model, back.Model);
            Assert.Equal(p.Training, back.Training);
        }
    }
}
