using Diffusion.Core;
using Diffusion.Core.Data;
using Diffusion.Core.Imaging;
using Diffusion.Core.Training;
using Diffusion.Models;
using Diffusion.Pipelines.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Pipelines.Tests;

/// <summary>Text runs through <see cref="RunTrainer"/>: a tiny cross-attention UNet and the learned encoder on ten class
/// folders named 0 … 9, captioned with the MNIST label captions.</summary>
public sealed class TextRunTests
{
    /// <summary>Writes a run.json for a tiny text run of <paramref name="encoder"/> on ten 4-image class folders.</summary>
    internal static string PrepareRun(string root, string name, string encoder = TextOptions.Learned)
    {
        var images = Path.Combine(root, "digits");
        if (!Directory.Exists(images))
        {
            using var scope = NewDisposeScope();
            var g = new Generator(3, CPU);
            for (int d = 0; d < 10; d++)
                ImageFiles.SavePngs((full(4, -0.9 + 0.2 * d).reshape(4, 1, 1, 1) + 0.1 * randn(new long[] { 4, 1, 28, 28 }, generator: g)).clamp(-1, 1), Path.Combine(images, d.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        var preset = Presets.Get("mnist-text");
        var options = TextRuns.WithEncoder(preset with
        {
            Dataset = Datasets.FolderPrefix + images,
            Model = UNetPresets.Tiny with { CrossAttentionDim = 1 },
            Text = preset.Text! with { Captions = "mnist", MaxLength = 12, LearnedEncoder = new Diffusion.Text.Encoders.TextTransformerOptions { HiddenSize = 32, Layers = 1, Heads = 2 } },
            Training = preset.Training with { BatchSize = 8, MaxSteps = 4, MaxMinutes = null, WarmupSteps = 1, LogEvery = 1, CheckpointEvery = 2, SampleEvery = null, Precision = Precision.Float32 },
            PreviewSteps = 3,
        }, encoder);
        var run = Path.Combine(root, name);
        Directory.CreateDirectory(run);
        OptionsJson.Save(options, Path.Combine(run, RunOptions.FileName));
        return run;
    }

    private static float[] Weights(string run)
    {
        using var scope = NewDisposeScope();
        var sd = StateDicts.Load(Path.Combine(Trainer.CheckpointDirectory(run), Trainer.ModelFile));
        return sd.OrderBy(kv => kv.Key, StringComparer.Ordinal).SelectMany(kv => kv.Value.data<float>().ToArray()).ToArray();
    }

    private static TrainRunResult Train(string run, int steps)
        => RunTrainer.Run(new TrainRunOptions { Preset = "mnist-text", OutputDirectory = run, Steps = steps, Precision = Precision.Float32 });

    [Fact]
    [Trait("Category", "Slow")]
    public void ALearnedEncoderRunTrainsBothAndWritesASampleableTextModel()
    {
        using var root = new TempDir();
        var run = PrepareRun(root, "run");
        var result = Train(run, 2);
        Assert.Equal(2, result.Training.Steps);
        var saved = RunOptions.Load(run);
        Assert.Equal(TextOptions.Learned, saved.Text!.Encoder);
        Assert.Equal(32, saved.Model.CrossAttentionDim);
        using (var scope = NewDisposeScope())
        {
            var keys = StateDicts.Load(Path.Combine(Trainer.CheckpointDirectory(run), Trainer.EmaFile)).Keys.ToList();
            Assert.Contains(keys, k => k.StartsWith("text_encoder.", StringComparison.Ordinal));
            Assert.Contains(keys, k => k.StartsWith("denoiser.", StringComparison.Ordinal));
        }
        foreach (var file in new[] { "tokenizer/vocab.json", "text_encoder/config.json", "conditioner/config.json", "unet/config.json" })
            Assert.True(File.Exists(Path.Combine(result.ModelDirectory, file)), $"{file} is missing");

        using var pipe = DiffusionPipeline.Load(run, "cpu", Precision.Float32);
        Assert.True(pipe.TakesPrompts);
        using var images = pipe.Generate(new GenerationRequest { Count = 2, Prompts = ["draw a seven"], Steps = 2, GuidanceScale = 4 });
        Assert.Equal([2L, 1, 28, 28], images.Images.shape);
        Assert.Equal(["draw a seven", "draw a seven"], images.Parameters.Prompts);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void AResumedTextRunTrainsTheSameWeightsAsAnUninterruptedOne()
    {
        using var root = new TempDir();
        var straight = PrepareRun(root, "straight");
        Train(straight, 4);
        var resumed = PrepareRun(root, "resumed");
        Train(resumed, 2);
        Train(resumed, 4);
        var a = Weights(straight);
        var b = Weights(resumed);
        Assert.Equal(a.Length, b.Length);
        Assert.Equal(a, b);
    }

    [Fact]
    public void ATextRunRefusesAnotherEncoderWhenItResumesAndClassPresetsRefuseOne()
    {
        using var root = new TempDir();
        var run = PrepareRun(root, "run");
        var e = Assert.Throws<DiffusionException>(() => RunTrainer.Resolve(new TrainRunOptions { Preset = "mnist-text", OutputDirectory = run, TextEncoder = "minilm" }));
        Assert.Contains("can't change encoder", e.Message, StringComparison.Ordinal);
        var c = Assert.Throws<DiffusionException>(() => RunTrainer.Resolve(new TrainRunOptions { Preset = "mnist", OutputDirectory = Path.Combine(root, "x"), TextEncoder = "learned" }));
        Assert.Contains("not text-conditioned", c.Message, StringComparison.Ordinal);
        var u = Assert.Throws<DiffusionException>(() => RunTrainer.Resolve(new TrainRunOptions { Preset = "mnist-text", OutputDirectory = Path.Combine(root, "y"), TextEncoder = "bert" }));
        Assert.Contains("Valid: minilm, learned", u.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TextPresetsCaptionTheirDatasetAndReadContextWithoutAPooledVector()
    {
        foreach (var name in new[] { "mnist-text", "fashion-text" })
        {
            var (options, _, _) = RunTrainer.Resolve(new TrainRunOptions { Preset = name, OutputDirectory = Path.Combine(Path.GetTempPath(), "no-such-run-" + Guid.NewGuid()) });
            Assert.Equal(TextOptions.MiniLm, options.Text!.Encoder);
            Assert.Null(options.Model.NumClasses);
            Assert.Equal(TextOptions.MiniLmWidth, options.Model.CrossAttentionDim);
            Assert.Equal([1, 2], options.Model.ResolvedCrossAttentionLevels);
            Assert.Equal(10, TextRuns.Captions(options).Classes);
            var (learned, _, _) = RunTrainer.Resolve(new TrainRunOptions { Preset = name, TextEncoder = "learned", OutputDirectory = Path.Combine(Path.GetTempPath(), "no-such-run-" + Guid.NewGuid()) });
            Assert.Equal(TextRuns.LearnedWidth, learned.Model.CrossAttentionDim);
            Assert.Equal(TextRuns.Tokenizer(learned).VocabularySize, learned.Text!.LearnedEncoder!.VocabularySize);
        }
    }
}
