using Diffusion.Core;
using Diffusion.Core.Data;
using Diffusion.Core.Schedules;
using Diffusion.Core.Training;
using Diffusion.Models;
using Diffusion.Samplers;
using Diffusion.Text.Captions;
using Diffusion.Text.Encoders;
using Diffusion.Text.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Text.Tests;

/// <summary>The text conditioner with the cross-attention UNet: guidance, and training the learned encoder with it.</summary>
public sealed class UNetIntegrationTests
{
    private const int Dim = 16;

    private static UNetOptions Cross() => new()
    {
        InChannels = 1, OutChannels = 1, SampleSize = 8, BaseChannels = 16, ChannelMultipliers = [1, 2], LayersPerBlock = 1,
        AttentionLevels = [0, 1], AttentionHeadDim = 8, GroupNormGroups = 8, CrossAttentionDim = Dim,
    };

    private static (TextConditioner Conditioner, TextTransformer Encoder) Text()
    {
        var tokenizer = WordTokenizer.Build(Enumerable.Range(0, 10).SelectMany(LabelCaptions.Mnist.TrainingPhrasings), new WordTokenizerOptions { MaxLength = 12 });
        using var g = new Generator(11);
        var encoder = new TextTransformer(new TextTransformerOptions { VocabularySize = tokenizer.VocabularySize, MaxLength = 12, HiddenSize = Dim, Layers = 1, Heads = 2 }, g);
        // The UNet reads context and context_mask only, so the pooled vector is left out.
        return (new TextConditioner(tokenizer, encoder, includePooled: false), encoder);
    }

    [Fact]
    public void GuidanceWithTheEmptyPromptEqualsTwoPasses()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (text, _) = Text();
        using var unet = new UNet(Cross(), new Generator(3, CPU));
        unet.eval();
        var cond = text.Encode(["digit 7", "the number seven", "a handwritten 3"], CPU);
        var x = randn(new long[] { 3, 1, 8, 8 }, generator: new Generator(4, CPU));
        var t = tensor(new float[] { 900, 500, 20 });
        var guided = new ClassifierFreeGuidance(unet, 2.5, text).Predict(x, t, cond);
        var y = unet.Predict(x, t, cond);
        var u = unet.Predict(x, t, text.Unconditional(3, CPU));
        float diff = (guided - (u + (y - u) * 2.5)).abs().max().ToSingle();
        Assert.True(diff < 1e-4f, $"guidance differs from two passes by {diff}");
        Assert.True((y - u).abs().max().ToSingle() > 1e-4f, "the caption made no difference");
        Assert.Contains("text_embedding", Assert.Throws<DiffusionException>(() => unet.Predict(x, t, new TextConditioner(text.Tokenizer, text.Encoder).Encode(["7", "7", "7"], CPU))).Message);
    }

    [Fact]
    public void TheTrainerTrainsTheUNetAndTheEncoderOnCaptions()
    {
        using var dir = new TempDir();
        manual_seed(5);
        var images = randint(0, 256, new long[] { 8, 1, 8, 8 }, dtype: ScalarType.Byte);
        var labels = arange(8, dtype: ScalarType.Int64);
        using var data = CaptionedImageDataset.FromLabels(new ImageDataset(images, labels, Enumerable.Range(0, 10).Select(i => $"{i}").ToArray()), LabelCaptions.Mnist, seed: 1);
        var (text, encoder) = Text();
        using var network = new DenoiserWithTextEncoder(new UNet(Cross(), new Generator(3, CPU)), encoder);
        var before = encoder.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        var options = new TrainingOptions
        {
            BatchSize = 4, MaxSteps = 2, WarmupSteps = 1, LogEvery = 1, CheckpointEvery = 100, SampleEvery = null,
            Precision = Precision.Float32, Seed = 2, LabelDropout = 0.5,
        };
        using var trainer = new Trainer(network, new NoiseSchedule(new ScheduleOptions()), text, data, options, dir);
        var result = trainer.Run();
        Assert.Equal(2, result.Steps);
        Assert.True(double.IsFinite(result.FinalLoss));
        foreach (var (name, w) in encoder.state_dict())
            Assert.False(w.allclose(before[name], rtol: 0, atol: 0), $"{name} did not train");
    }
}
