using Diffusion.Core;
using Diffusion.Core.Training;
using Diffusion.Models;
using Diffusion.Tests;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Pipelines.Tests;

public sealed class VaeModelFolderTests
{
    private static readonly AutoencoderKLOptions Vae = new() { BlockOutChannels = [16, 16], NormGroups = 8, SampleSize = 8, ScalingFactor = 0.7 };

    private static DiffusionPipeline LatentPipeline()
    {
        var vae = new AutoencoderKL(Vae, new Generator(3, CPU));
        vae.eval();
        // 8x8 RGB images, (4, 4, 4) latents.
        return DiffusionPipeline.Create(TestPipelines.Components(TestPipelines.Small(classes: 0, channels: 4, size: 4), autoencoder: vae));
    }

    [Fact]
    public void AnAutoencoderKLIsSavedAsTheVaeComponentAndLoadsBack()
    {
        using var dir = new TempDir();
        using var pipe = LatentPipeline();
        using var r = pipe.Generate(TestPipelines.Request(count: 2) with { Classes = null, GuidanceScale = 1 });
        Assert.Equal([2L, 3, 8, 8], r.Images.shape);
        pipe.Save(dir);
        Assert.True(File.Exists(Path.Combine(dir, "vae", "config.json")));
        Assert.True(File.Exists(Path.Combine(dir, "vae", "diffusion_pytorch_model.safetensors")));
        Assert.Contains("\"AutoencoderKL\"", File.ReadAllText(Path.Combine(dir, "model_index.json")));

        using var loaded = DiffusionPipeline.Load(dir, "cpu", Precision.Float32);
        var vae = Assert.IsType<AutoencoderKL>(loaded.Components.Autoencoder);
        Assert.Equal(Vae, vae.Options);
        using var again = loaded.Generate(TestPipelines.Request(count: 2) with { Classes = null, GuidanceScale = 1 });
        Assert.Equal(TestPipelines.Pixels(r), TestPipelines.Pixels(again));
    }

    [Fact]
    public void ALatentModelWithoutItsVaeFolderIsOneError()
    {
        using var dir = new TempDir();
        using (var pipe = LatentPipeline()) pipe.Save(dir);
        Directory.Delete(Path.Combine(dir, "vae"), true);
        FileManifest.Write(dir); // a consistent folder that lacks the component model_index.json names
        var e = Assert.Throws<DiffusionException>(() => PipelineFolder.Load(dir, CPU, Precision.Float32));
        Assert.Contains("vae", e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void AVaeWhoseLatentsDoNotFitTheUNetIsOneError()
    {
        using var dir = new TempDir();
        using (var pipe = LatentPipeline()) pipe.Save(dir);
        var vaeDir = Path.Combine(dir, "vae");
        Directory.Delete(vaeDir, true);
        using (var other = new AutoencoderKL(Vae with { LatentChannels = 8 })) other.Save(vaeDir);
        FileManifest.Write(dir);
        var e = Assert.Throws<DiffusionException>(() => PipelineFolder.Load(dir, CPU, Precision.Float32));
        Assert.Contains("8 channels", e.Message);
        Assert.Contains("UNet takes 4", e.Message);
    }
}
