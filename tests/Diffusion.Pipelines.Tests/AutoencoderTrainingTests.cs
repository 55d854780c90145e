using Diffusion.Core;
using Diffusion.Core.Conditioning;
using Diffusion.Core.Data;
using Diffusion.Core.Schedules;
using Diffusion.Core.Training;
using Diffusion.Models;
using Diffusion.Tests;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Pipelines.Tests;

public sealed class AutoencoderTrainingTests
{
    /// <summary>The network trains on the autoencoder's latents, and the pipeline built from the result decodes them.</summary>
    [Fact]
    public void TrainingGoesThroughTheAutoencoder()
    {
        using var dir = new TempDir();
        // 8x8 grayscale images: left half dark for class 0, right half dark for class 1.
        using var images = full(new long[] { 32, 1, 8, 8 }, 255, dtype: ScalarType.Byte);
        using var labels = tensor(Enumerable.Range(0, 32).Select(i => (long)(i % 2)).ToArray());
        using (no_grad())
            for (int i = 0; i < 32; i++) images[i, 0, .., (i % 2 == 0 ? 0 : 4)..(i % 2 == 0 ? 4 : 8)].fill_(0);
        using var data = new ImageDataset(images.clone(), labels.clone(), ["left", "right"]);
        var ae = new SpaceToDepthAutoencoder(imageChannels: 1, factor: 2);
        var options = TestPipelines.Small(classes: 2, channels: 4, size: 4);
        manual_seed(3);
        using var network = new UNet(options);
        var schedule = new NoiseSchedule(new ScheduleOptions());
        var training = new TrainingOptions { BatchSize = 8, MaxSteps = 6, WarmupSteps = 1, LogEvery = 2, CheckpointEvery = 100, SampleEvery = null, Precision = Precision.Float32 };
        using var trainer = new Trainer(network, schedule, new ClassConditioner(2), data, training, dir, autoencoder: ae);
        var result = trainer.Run();
        Assert.Equal(6, result.Steps);
        Assert.True(double.IsFinite(result.FinalLoss));

        // A pixel-space UNet of the latent shape would reject 8x8 images: the trainer fed it (B, 4, 4, 4) latents.
        using var pixels = new UNet(options);
        StateDicts.CopyInto(pixels, trainer.EmaWeights, "EMA");
        using var pipe = DiffusionPipeline.Create(new PipelineComponents
        {
            Denoiser = pixels, Scheduler = schedule, Conditioner = new ClassConditioner(2, ["left", "right"]), Autoencoder = ae, SampleShape = [4, 4, 4],
        });
        using var drawn = pipe.Generate(new GenerationRequest { Count = 2, Classes = [0, 1], Steps = 5 });
        Assert.Equal([2L, 1, 8, 8], drawn.Images.shape);
    }

    [Fact]
    public void AnAutoencoderWhoseLatentsDoNotFitTheDenoiserIsOneError()
    {
        var e = Assert.Throws<DiffusionException>(() => TestPipelines.Components(TestPipelines.Small(channels: 1), autoencoder: new SpaceToDepthAutoencoder(1, 2)).Validate());
        Assert.Contains("4 channels", e.Message);
    }
}
