using System.Net.Http.Json;
using System.Text.Json;
using Diffusion.Core.Conditioning;
using Diffusion.Core.Schedules;
using Diffusion.Models;
using Diffusion.Pipelines;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Server.Tests;

/// <summary>
/// A tiny untrained class-conditional model (10 classes named "0" … "9", 8x8 grey images, a two-level UNet), written
/// once per test run into a temporary models folder, and servers started on a free loopback port over it.
/// </summary>
internal static class TestServer
{
    public const string ModelName = "tiny";

    private static readonly Lazy<TempDir> Folder = new(CreateModels);

    /// <summary>The models folder (one sub-folder, <see cref="ModelName"/>).</summary>
    public static string ModelsDirectory => Folder.Value.Path;

    public static UNetOptions Tiny => new()
    {
        InChannels = 1,
        OutChannels = 1,
        SampleSize = 8,
        BaseChannels = 16,
        ChannelMultipliers = [1, 2],
        LayersPerBlock = 1,
        AttentionLevels = [],
        GroupNormGroups = 8,
        NumClasses = 10,
    };

    private static TempDir CreateModels()
    {
        var dir = new TempDir();
        var o = Tiny;
        var unet = new UNet(o, new Generator(1, CPU));
        unet.eval();
        using var pipe = DiffusionPipeline.Create(new PipelineComponents
        {
            Denoiser = unet,
            Scheduler = new NoiseSchedule(new ScheduleOptions()),
            Conditioner = new ClassConditioner(10, Enumerable.Range(0, 10).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray()),
            SampleShape = [1, 8, 8],
            ClipSample = 1.0,
        }, CPU);
        pipe.Save(Path.Combine(dir, ModelName));
        Directory.CreateDirectory(Path.Combine(dir, "not-a-model")); // ignored: no model_index.json
        return dir;
    }

    /// <summary>Starts a server on a free loopback port; <paramref name="configure"/> changes the test defaults.</summary>
    public static async Task<(DiffusionServer Server, HttpClient Client)> StartAsync(Func<ServerOptions, ServerOptions>? configure = null)
    {
        var options = new ServerOptions { ModelsDirectory = ModelsDirectory, Port = 0, Device = "cpu", Precision = Core.Training.Precision.Float32, MaxSteps = 1000 };
        var server = await DiffusionServer.StartAsync(configure?.Invoke(options) ?? options);
        return (server, new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) });
    }

    /// <summary>A request body as JSON content.</summary>
    public static StringContent Json(string json) => new(json, System.Text.Encoding.UTF8, "application/json");

    public static Task<HttpResponseMessage> Generate(this HttpClient client, object body, CancellationToken ct = default)
        => client.PostAsJsonAsync("/v1/generate", body, ct);

    /// <summary>A request that keeps the model busy for seconds (1000 steps of 16 guided images).</summary>
    public static object Slow(long seed = 0) => new { model = ModelName, @class = 3, count = 16, steps = 1000, seed };

    /// <summary>Polls <paramref name="condition"/> every 20 ms until it holds or <paramref name="timeout"/> passes.</summary>
    public static async Task<bool> Eventually(Func<bool> condition, TimeSpan timeout)
    {
        var end = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < end)
        {
            if (condition()) return true;
            await Task.Delay(20);
        }
        return condition();
    }

    public static JsonElement ReadJson(string text) => JsonDocument.Parse(text).RootElement.Clone();
}
