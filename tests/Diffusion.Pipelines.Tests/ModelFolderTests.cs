using System.Text.Json.Nodes;
using Diffusion.Core;
using Diffusion.Core.Components;
using Diffusion.Core.Schedules;
using Diffusion.Core.Training;
using Diffusion.Models;
using Diffusion.Tests;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Pipelines.Tests;

public sealed class ModelFolderTests
{
    public static TheoryData<string> Presets => new() { "Mnist", "Cifar10", "Faces64", "Faces32", "Tiny" };

    [Theory]
    [MemberData(nameof(Presets))]
    public void UNetConfigRoundTripsEveryPreset(string name)
    {
        var options = (UNetOptions)typeof(UNetPresets).GetProperty(name)!.GetValue(null)!;
        foreach (var o in new[] { options, options with { NumClasses = 10, Prediction = Prediction.V, Dropout = 0.1, TimeEmbeddingDim = 48 } })
        {
            using var dir = new TempDir();
            UNetConfig.Save(o, dir);
            Assert.Equal(o, UNetConfig.Load(dir, o.Prediction));
        }
    }

    [Fact]
    public void UNetConfigUsesDiffusersNames()
    {
        using var dir = new TempDir();
        UNetConfig.Save(TestPipelines.Small(classes: 10), dir);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject();
        Assert.Equal("UNet2DModel", (string?)json["_class_name"]);
        Assert.Equal([16, 32], json["block_out_channels"]!.AsArray().Select(n => (int)n!).ToArray());
        Assert.Equal(["DownBlock2D", "AttnDownBlock2D"], json["down_block_types"]!.AsArray().Select(n => (string)n!).ToArray());
        Assert.Equal(["AttnUpBlock2D", "UpBlock2D"], json["up_block_types"]!.AsArray().Select(n => (string)n!).ToArray());
        Assert.Equal(11, (int)json["num_class_embeds"]!); // ten classes plus the null class: the embedding's rows
        Assert.Equal(8, (int)json["sample_size"]!);
    }

    [Theory]
    [InlineData(BetaSchedule.Linear, false, Prediction.Epsilon, 1.0)]
    [InlineData(BetaSchedule.Cosine, false, Prediction.V, null)]
    [InlineData(BetaSchedule.Sigmoid, true, Prediction.Sample, 2.0)]
    public void SchedulerConfigRoundTrips(BetaSchedule kind, bool ztsnr, Prediction prediction, double? clip)
    {
        using var dir = new TempDir();
        var config = new SchedulerConfig(new ScheduleOptions { Kind = kind, ZeroTerminalSnr = ztsnr, TrainSteps = 500, BetaStart = 2e-4, BetaEnd = 0.03 }, prediction, clip);
        config.Save(dir);
        Assert.Equal(config, SchedulerConfig.Load(dir));
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "scheduler_config.json")))!.AsObject();
        Assert.Equal("DDPMScheduler", (string?)json["_class_name"]);
        Assert.Equal(kind switch { BetaSchedule.Linear => "linear", BetaSchedule.Cosine => "squaredcos_cap_v2", _ => "sigmoid" }, (string?)json["beta_schedule"]);
    }

    [Fact]
    public void SavedPipelineHasDiffusersLayoutAndLoadsBitIdentical()
    {
        using var dir = new TempDir();
        var folder = Path.Combine(dir, "model");
        using var pipe = TestPipelines.Create(seed: 3);
        pipe.Save(folder);
        foreach (var f in new[] { "model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json", "conditioner/config.json" })
            Assert.True(File.Exists(Path.Combine(folder, f)), f);
        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "model_index.json")))!.AsObject();
        Assert.Equal("UNet2DModel", (string?)index["unet"]![1]);
        Assert.Null(index["vae"]![1]);

        using var loaded = DiffusionPipeline.Load(folder, "cpu", Precision.Float32);
        var a = ((UNet)pipe.Components.Denoiser).state_dict();
        var b = ((UNet)loaded.Components.Denoiser).state_dict();
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (k, t) in a) Assert.True(t.dtype == b[k].dtype && (t == b[k]).all().item<bool>(), k);
        Assert.Equal(["c0", "c1", "c2"], loaded.ClassNames);

        using var x = pipe.Generate(TestPipelines.Request());
        using var y = loaded.Generate(TestPipelines.Request());
        Assert.Equal(TestPipelines.Pixels(x), TestPipelines.Pixels(y));
    }

    [Fact]
    public void MissingTensorIsNamed() => AssertCorrupted(tensors => tensors.Remove("conv_in.weight"), "missing conv_in.weight");

    [Fact]
    public void UnexpectedTensorIsNamed() => AssertCorrupted(tensors => tensors["extra.weight"] = zeros(2), "unexpected extra.weight");

    [Fact]
    public void WrongShapeIsNamed() => AssertCorrupted(tensors => tensors["conv_out.bias"] = zeros(5), "'conv_out.bias' has shape [5]");

    [Fact]
    public void UnknownUNetClassIsNamed() => AssertConfigRejected("unet/config.json", j => j["_class_name"] = "UNet3DConditionModel", "unknown UNet class 'UNet3DConditionModel'");

    [Fact]
    public void UnknownComponentClassIsNamed() => AssertConfigRejected("model_index.json", j => j["vae"] = new JsonArray("diffusers", "AutoencoderTiny"), "unknown vae class 'AutoencoderTiny'");

    [Fact]
    public void UnknownComponentIsNamed() => AssertConfigRejected("model_index.json", j => j["safety_checker"] = new JsonArray("x", "Y"), "safety_checker");

    [Fact]
    public void UnsupportedConfigValueIsNamed() => AssertConfigRejected("unet/config.json", j => j["act_fn"] = "gelu", "act_fn");

    [Fact]
    public void UnknownConfigKeyIsNamed() => AssertConfigRejected("scheduler/scheduler_config.json", j => j["karras_sigmas"] = true, "karras_sigmas");

    [Theory]
    [InlineData("unet/diffusion_pytorch_model.safetensors")]
    [InlineData("unet/config.json")]
    [InlineData("scheduler/scheduler_config.json")]
    public void AFlippedByteIsRefusedByName(string file)
    {
        using var dir = new TempDir();
        using (var pipe = TestPipelines.Create()) pipe.Save(dir);
        var path = Path.Combine(dir, file);
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x01;     // same length: only the manifest's hash can tell
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<DiffusionException>(() => DiffusionPipeline.Load(dir, "cpu"));
        Assert.Contains(file, e.Message);
        Assert.Contains("corrupted", e.Message);
    }

    [Fact]
    public void UnreadableConfigIsOneError()
    {
        using var dir = new TempDir();
        using (var pipe = TestPipelines.Create()) pipe.Save(dir);
        File.WriteAllText(Path.Combine(dir, "unet", "config.json"), "{ not json");
        FileManifest.Write(dir);
        var e = Assert.Throws<DiffusionException>(() => DiffusionPipeline.Load(dir, "cpu"));
        Assert.Contains("config.json", e.Message);
        Assert.Contains("not valid JSON", e.Message);
    }

    [Fact]
    public void ANonModelFolderSaysWhatIsMissing()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<DiffusionException>(() => DiffusionPipeline.Load(dir));
        Assert.Contains("model_index.json", e.Message);
        Assert.Throws<DiffusionException>(() => DiffusionPipeline.Load(Path.Combine(dir, "nope")));
    }

    [Theory]
    [InlineData("tpu")]
    [InlineData("cuda:7")]
    public void AMissingDeviceIsOneError(string device)
    {
        using var dir = new TempDir();
        using (var pipe = TestPipelines.Create()) pipe.Save(dir);
        var e = Assert.Throws<DiffusionException>(() => DiffusionPipeline.Load(dir, device));
        Assert.Contains(device.Split(':')[0], e.Message);
    }

    private static void AssertCorrupted(Action<Dictionary<string, Tensor>> corrupt, string expected)
    {
        using var dir = new TempDir();
        using (var pipe = TestPipelines.Create()) pipe.Save(dir);
        var file = Path.Combine(dir, "unet", ComponentWeights.FileName);
        var tensors = StateDicts.Load(file);
        corrupt(tensors);
        StateDicts.Save(tensors, file);
        FileManifest.Write(dir);
        var e = Assert.Throws<DiffusionException>(() => DiffusionPipeline.Load(dir, "cpu"));
        Assert.Contains(expected, e.Message);
        Assert.Contains(ComponentWeights.FileName, e.Message);
    }

    private static void AssertConfigRejected(string file, Action<JsonObject> change, string expected)
    {
        using var dir = new TempDir();
        using (var pipe = TestPipelines.Create()) pipe.Save(dir);
        var path = Path.Combine(dir, file);
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        change(json);
        File.WriteAllText(path, json.ToJsonString());
        FileManifest.Write(dir); // an edited folder with a fresh manifest: the config check itself must refuse it
        var e = Assert.Throws<DiffusionException>(() => DiffusionPipeline.Load(dir, "cpu"));
        Assert.Contains(expected, e.Message);
    }
}
