using System.Text.Json.Nodes;
using Diffusion.Core;
using Diffusion.Core.Schedules;
using Diffusion.Models;
using Diffusion.Text.Encoders;
using Diffusion.Text.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Pipelines.Tests;

/// <summary>Text-conditioned pipelines: a small cross-attention UNet behind a word tokenizer and a learned text encoder.</summary>
public sealed class TextPipelineTests
{
    private const int Width = 16;

    private static readonly string[] Captions = ["a seven", "digit seven", "a three", "the number three", "a small one"];

    internal static PipelineComponents Components(long seed = 0, bool includePooled = false, int maxLength = 8)
    {
        var o = TestPipelines.Small(classes: 0) with { CrossAttentionDim = Width };
        var unet = new UNet(o, new Generator((ulong)seed, CPU));
        unet.eval();
        var tokenizer = WordTokenizer.Build(Captions, new WordTokenizerOptions { MaxLength = maxLength });
        var encoder = new TextTransformer(new TextTransformerOptions
        {
            VocabularySize = tokenizer.VocabularySize, MaxLength = maxLength, HiddenSize = Width, Layers = 1, Heads = 2,
        }, new Generator((ulong)seed + 7, CPU));
        encoder.Freeze();
        encoder.eval();
        return new PipelineComponents
        {
            Denoiser = unet,
            Scheduler = new NoiseSchedule(new ScheduleOptions()),
            Conditioner = new TextConditioner(tokenizer, encoder, includePooled),
            SampleShape = [o.InChannels, o.SampleSize, o.SampleSize],
            ClipSample = 1.0,
        };
    }

    private static GenerationRequest Request(params string[] prompts) => new()
    {
        Count = 3, Prompts = prompts, Steps = 3, Sampler = "ddim", GuidanceScale = 3, Seed = 5, BatchSize = 2,
    };

    [Fact]
    public void ATextModelFolderHoldsTokenizerEncoderAndConditionerAndLoadsBitIdentical()
    {
        using var dir = new TempDir();
        var folder = Path.Combine(dir, "model");
        using var pipe = DiffusionPipeline.Create(Components());
        pipe.Save(folder);
        foreach (var file in new[] { "tokenizer/vocab.json", "text_encoder/config.json", "conditioner/config.json", "unet/config.json" })
            Assert.True(File.Exists(Path.Combine(folder, file)), $"{file} is missing");
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(folder, "text_encoder"), "*.safetensors"));
        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, PipelineFolder.IndexFile)))!;
        Assert.Equal("TextConditioner", index["conditioner"]![1]!.GetValue<string>());

        using var loaded = DiffusionPipeline.Load(folder, "cpu", Diffusion.Core.Training.Precision.Float32);
        Assert.True(loaded.TakesPrompts);
        using var a = pipe.Generate(Request("a seven"));
        using var b = loaded.Generate(Request("a seven"));
        Assert.Equal(TestPipelines.Pixels(a), TestPipelines.Pixels(b));
    }

    [Fact]
    public void OnePromptServesEveryImageAndPromptsChangeTheImages()
    {
        using var pipe = DiffusionPipeline.Create(Components());
        using var one = pipe.Generate(Request("a seven"));
        using var each = pipe.Generate(Request("a seven", "a seven", "a seven"));
        using var other = pipe.Generate(Request("a three"));
        Assert.Equal(TestPipelines.Pixels(one), TestPipelines.Pixels(each));
        Assert.NotEqual(TestPipelines.Pixels(one), TestPipelines.Pixels(other));
        Assert.Equal(["a seven", "a seven", "a seven"], one.Parameters.Prompts);
        Assert.Equal(3, one.Parameters.GuidanceScale);
        Assert.Empty(one.Parameters.Warnings);
    }

    [Fact]
    public void TheEmptyPromptIsTheUnconditionalModelWhateverTheGuidance()
    {
        using var pipe = DiffusionPipeline.Create(Components());
        using var empty = pipe.Generate(Request(""));
        using var emptyStrong = pipe.Generate(Request("") with { GuidanceScale = 7 });
        using var none = pipe.Generate(Request() with { Prompts = null });
        Assert.Null(none.Parameters.Prompts);
        Assert.Null(none.Parameters.GuidanceScale);
        float worst = (empty.Images - none.Images).abs().max().ToSingle();
        // Guidance runs the empty prompt twice in one batch of 2B; the unconditional run once in B: float rounding only.
        Assert.True(worst < 1e-4f, $"the empty prompt differs from the unconditional model by {worst}");
        Assert.True((emptyStrong.Images - none.Images).abs().max().ToSingle() < 1e-4f);
    }

    [Fact]
    public void AnOverLongPromptIsTruncatedWithOneWarning()
    {
        using var pipe = DiffusionPipeline.Create(Components(maxLength: 4));
        var warnings = new List<string>();
        var progress = new SyncProgress<GenerationProgress>(p => { if (p.Warning is { } w) warnings.Add(w); });
        var longPrompt = "a small one a small one a small one";
        using var result = pipe.Generate(Request(longPrompt, "a seven digit seven a three", "a seven"), progress);
        Assert.Single(warnings);
        Assert.Contains("truncated", warnings[0], StringComparison.Ordinal);
        Assert.Contains("2 prompts", warnings[0], StringComparison.Ordinal);
        Assert.Equal(warnings, result.Parameters.Warnings);
        using var shortOnly = pipe.Generate(Request("a seven"));
        Assert.Empty(shortOnly.Parameters.Warnings);
    }

    public static TheoryData<GenerationRequest, string> BadTextRequests => new()
    {
        { Request("a", "b"), "one prompt for all images or one per image" },
        { Request("a seven") with { Classes = [1] }, "takes prompts, not classes" },
        { Request() with { Prompts = null, Classes = [1] }, "takes prompts, not classes" },
        { Request(null!, "a", "b"), "A prompt is null" },
    };

    [Theory]
    [MemberData(nameof(BadTextRequests))]
    public void BadTextRequestsAreOneClearError(GenerationRequest request, string expected)
    {
        using var pipe = DiffusionPipeline.Create(Components());
        var e = Assert.Throws<DiffusionException>(() => pipe.Generate(request));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AClassModelRefusesPrompts()
    {
        using var pipe = TestPipelines.Create();
        var e = Assert.Throws<DiffusionException>(() => pipe.Generate(TestPipelines.Request() with { Classes = null, Prompts = ["draw a seven"] }));
        Assert.Contains("takes no prompts; give Classes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheUNetRefusesAPooledTextEmbeddingAtAssembly()
    {
        var e = Assert.Throws<DiffusionException>(() => DiffusionPipeline.Create(Components(includePooled: true)));
        Assert.Contains("includePooled: false", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFolderNamingAnUnregisteredPretrainedEncoderNamesItsPackage()
    {
        using var dir = new TempDir();
        var folder = Path.Combine(dir, "model");
        using (var pipe = DiffusionPipeline.Create(Components())) pipe.Save(folder);
        var config = Path.Combine(folder, "conditioner", "config.json");
        var json = JsonNode.Parse(File.ReadAllText(config))!.AsObject();
        var replaced = Diffusion.Core.Components.ComponentConfig.New(json["_class_name"]!.GetValue<string>());
        replaced["pretrained_text_encoder"] = "minilm";
        replaced["max_length"] = 32;
        replaced["include_pooled"] = false;
        File.WriteAllText(config, replaced.ToJsonString());
        Diffusion.Core.FileManifest.Write(folder);
        var e = Assert.Throws<DiffusionException>(() => PipelineFolder.Load(folder, CPU, Diffusion.Core.Training.Precision.Float32));
        Assert.Contains("Diffusion.Text.MiniLM", e.Message, StringComparison.Ordinal);
        Assert.Contains("MiniLm.Register()", e.Message, StringComparison.Ordinal);
    }
}
