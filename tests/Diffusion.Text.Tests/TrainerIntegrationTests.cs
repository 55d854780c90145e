using Diffusion.Core;
using Diffusion.Core.Data;
using Diffusion.Core.Schedules;
using Diffusion.Core.Training;
using Diffusion.Text.Captions;
using Diffusion.Text.Encoders;
using Diffusion.Text.Tokenizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Diffusion.Text.Tests;

/// <summary>A conv denoiser that reads the text condition (context, its mask and the pooled vector), small enough for trainer tests.</summary>
internal sealed class TinyTextDenoiser : nn.Module<Tensor, Tensor, Condition, Tensor>, IDenoiser
{
    private static readonly string[] Reads = [Condition.Fields.Context, Condition.Fields.ContextMask, Condition.Fields.TextEmbedding];
    private readonly Conv2d conv1;
    private readonly Conv2d conv2;
    private readonly Linear context;
    private readonly Linear pooled;

    public TinyTextDenoiser(int dim) : base(nameof(TinyTextDenoiser))
    {
        conv1 = nn.Conv2d(2, 16, 3, padding: 1);
        conv2 = nn.Conv2d(16, 32, 3, padding: 1); // 32 channels averaged down (libtorch's CPU conv backward races for narrow outputs)
        context = nn.Linear(dim, 16);
        pooled = nn.Linear(dim, 16);
        RegisterComponents();
    }

    public Prediction Prediction => Prediction.Epsilon;

    public Tensor Predict(Tensor x, Tensor t, Condition condition) => forward(x, t, condition);

    public override Tensor forward(Tensor x, Tensor t, Condition condition)
    {
        condition.RequireOnly(Reads, "TinyTextDenoiser");
        using var scope = NewDisposeScope();
        long b = x.shape[0];
        var tt = (t / 1000).reshape(-1, 1, 1, 1).expand(b, 1, x.shape[2], x.shape[3]);
        var h = nn.functional.silu(conv1.forward(cat(new[] { x, tt }, 1)));
        var m = condition.ContextMask!.to(ScalarType.Float32).unsqueeze(-1);                    // (B, L, 1)
        var c = (condition.Context! * m).sum(1) / m.sum(1);                                       // (B, D)
        h = h + context.forward(c).reshape(b, 16, 1, 1) + pooled.forward(condition[Condition.Fields.TextEmbedding]!).reshape(b, 16, 1, 1);
        return conv2.forward(h).reshape(b, 1, 32, x.shape[2], x.shape[3]).mean(new long[] { 2 }).MoveToOuterDisposeScope(); // (B, 1, H, W)
    }
}

public sealed class TrainerIntegrationTests
{
    [Fact]
    public void TheTrainerTrainsTheLearnedEncoderThroughTheWrapper()
    {
        using var dir = new TempDir();
        manual_seed(3);
        var images = randint(0, 256, new long[] { 16, 1, 8, 8 }, dtype: ScalarType.Byte);
        var labels = arange(16, dtype: ScalarType.Int64).remainder(10);
        using var data = CaptionedImageDataset.FromLabels(new ImageDataset(images, labels, Enumerable.Range(0, 10).Select(i => $"{i}").ToArray()), LabelCaptions.Mnist, seed: 1);
        var tokenizer = WordTokenizer.Build(Enumerable.Range(0, 10).SelectMany(LabelCaptions.Mnist.TrainingPhrasings), new WordTokenizerOptions { MaxLength = 12 });
        using var g = new Generator(5);
        var encoder = new TextTransformer(new TextTransformerOptions { VocabularySize = tokenizer.VocabularySize, MaxLength = 12, HiddenSize = 16, Layers = 1, Heads = 2 }, g);
        var conditioner = new TextConditioner(tokenizer, encoder);
        using var network = new DenoiserWithTextEncoder(new TinyTextDenoiser(16), encoder);
        var before = encoder.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

        var options = new TrainingOptions
        {
            BatchSize = 4, MaxSteps = 4, WarmupSteps = 1, LogEvery = 2, CheckpointEvery = 100, SampleEvery = null,
            Precision = Precision.Float32, Seed = 2, LabelDropout = 0.5,
        };
        using var trainer = new Trainer(network, new NoiseSchedule(new ScheduleOptions()), conditioner, data, options, dir);
        var result = trainer.Run();

        Assert.Equal(4, result.Steps);
        Assert.True(double.IsFinite(result.FinalLoss));
        Assert.Contains("text_encoder.embeddings.token_embedding.weight", trainer.Weights.Keys);
        Assert.Contains("denoiser.conv1.weight", trainer.Weights.Keys);
        foreach (var (name, w) in encoder.state_dict())
        {
            Assert.False(w.allclose(before[name], rtol: 0, atol: 0), $"{name} did not train");
            Assert.True(w.allclose(trainer.Weights["text_encoder." + name], rtol: 0, atol: 0), $"{name}: the conditioner's encoder is not the trained one");
        }
    }
}
