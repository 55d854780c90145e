using Diffusion.Core;
using Diffusion.Core.Conditioning;
using Diffusion.Core.Schedules;
using Diffusion.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Pipelines.Tests;

/// <summary>Small seeded pipelines for the tests.</summary>
internal static class TestPipelines
{
    public static UNetOptions Small(int classes = 3, int channels = 1, int size = 8, Prediction prediction = Prediction.Epsilon) => new()
    {
        InChannels = channels,
        OutChannels = channels,
        SampleSize = size,
        BaseChannels = 16,
        ChannelMultipliers = [1, 2],
        LayersPerBlock = 1,
        AttentionLevels = [1],
        AttentionHeadDim = 16,
        GroupNormGroups = 8,
        NumClasses = classes > 0 ? classes : null,
        Prediction = prediction,
    };

    public static PipelineComponents Components(UNetOptions? options = null, long seed = 0, IAutoencoder? autoencoder = null, ScheduleOptions? schedule = null)
    {
        var o = options ?? Small();
        var unet = new UNet(o, new Generator((ulong)seed, CPU));
        unet.eval();
        return new PipelineComponents
        {
            Denoiser = unet,
            Scheduler = new NoiseSchedule(schedule ?? new ScheduleOptions()),
            Conditioner = o.NumClasses is int k ? new ClassConditioner(k, Enumerable.Range(0, k).Select(i => $"c{i}").ToArray()) : null,
            Autoencoder = autoencoder,
            SampleShape = [o.InChannels, o.SampleSize, o.SampleSize],
            ClipSample = autoencoder is null ? 1.0 : null,
        };
    }

    public static DiffusionPipeline Create(UNetOptions? options = null, long seed = 0) => DiffusionPipeline.Create(Components(options, seed));

    public static GenerationRequest Request(int count = 4, long seed = 1) => new()
    {
        Count = count, Classes = Enumerable.Range(0, count).Select(i => i % 3).ToArray(), Steps = 4, Sampler = "ddim", GuidanceScale = 2, Seed = seed, BatchSize = 3,
    };

    public static float[] Pixels(GenerationResult r) => r.Images.data<float>().ToArray();
}
