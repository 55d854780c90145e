using Diffusion.Core;
using Diffusion.Models;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Pipelines.Tests;

public sealed class GenerationTests
{
    [Fact]
    public async Task ConcurrentCallsFromManyThreadsMatchSequentialOnesAndLeakNothing()
    {
        using var pipe = TestPipelines.Create(seed: 5);
        var requests = Enumerable.Range(0, 8).Select(i => TestPipelines.Request(count: 3, seed: 100 + i)).ToArray();
        using (pipe.Generate(requests[0])) { } // warm up lazily created state before counting
        long before = await LiveTensors(pipe);

        var sequential = requests.Select(r => pipe.Generate(r)).ToArray();
        var threads = requests.Select(r => Task.Factory.StartNew(() => pipe.GenerateAsync(r), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap()).ToArray();
        var results = await Task.WhenAll(threads);
        try
        {
            for (int i = 0; i < requests.Length; i++) Assert.Equal(TestPipelines.Pixels(sequential[i]), TestPipelines.Pixels(results[i]));
        }
        finally
        {
            // TorchSharp counts live tensors per creating thread: free the results there, so the count is exact.
            await pipe.RunOnTorchThread(_ => { foreach (var r in results.Concat(sequential)) r.Dispose(); return 0; });
        }
        Assert.Equal(before, await LiveTensors(pipe));
    }

    [Fact]
    public async Task CancellingMidSamplingThrowsAndLeavesThePipelineUsable()
    {
        using var pipe = TestPipelines.Create();
        using var cts = new CancellationTokenSource();
        var request = TestPipelines.Request() with { Steps = 40 };
        var progress = new SyncProgress<GenerationProgress>(p => { if (p.Step == 3) cts.Cancel(); });
        int steps = 0;
        var counted = new SyncProgress<GenerationProgress>(p => { steps++; progress.Report(p); });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pipe.GenerateAsync(request, counted, cts.Token));
        Assert.InRange(steps, 3, 4);
        using var again = await pipe.GenerateAsync(TestPipelines.Request());
        Assert.Equal(4, again.Count);
    }

    [Fact]
    public void ProgressReportsBatchesAndSteps()
    {
        using var pipe = TestPipelines.Create();
        var reports = new List<GenerationProgress>();
        using var r = pipe.Generate(TestPipelines.Request(count: 5) with { BatchSize = 2 }, new SyncProgress<GenerationProgress>(reports.Add));
        Assert.Equal(3 * 4, reports.Count);                        // 3 batches of 4 steps
        Assert.Equal(new GenerationProgress(3, 3, 4, 4, 5, 5), reports[^1]);
        Assert.Equal(new GenerationProgress(1, 3, 4, 4, 2, 5), reports[3]);
        Assert.Equal([5L, 1, 8, 8], r.Images.shape);
        Assert.Equal([0, 1, 2, 0, 1], r.Parameters.Classes);
        Assert.Equal(2, r.Parameters.GuidanceScale);
    }

    [Fact]
    public void GivenInitialNoiseReplacesTheSeededDraw()
    {
        using var pipe = TestPipelines.Create();
        var request = TestPipelines.Request(count: 3, seed: 9) with { BatchSize = 3 };
        using var seeded = pipe.Generate(request);
        using var noise = randn([3, 1, 8, 8], generator: new Generator(9, CPU));
        using var given = pipe.Generate(request with { Seed = 12345, InitialNoise = noise });
        Assert.Equal(TestPipelines.Pixels(seeded), TestPipelines.Pixels(given));
        using var other = pipe.Generate(request with { Seed = 12345 });
        Assert.NotEqual(TestPipelines.Pixels(seeded), TestPipelines.Pixels(other));
    }

    [Fact]
    public void ImageToImageKeepsMoreOfThePictureAtLowStrength()
    {
        using var pipe = TestPipelines.Create(TestPipelines.Small(classes: 0));
        using var picture = new Image<L8>(8, 8);
        for (int y = 0; y < 8; y++) for (int x = 0; x < 8; x++) picture[x, y] = new L8((byte)(x < 4 ? 0 : 255));
        using var source = Diffusion.Core.Imaging.ImageTensors.FromImage(picture, 1);
        double Distance(double strength)
        {
            using var r = pipe.Generate(new GenerationRequest { Count = 4, Steps = 20, InitImage = picture, Strength = strength, Seed = 2 });
            Assert.Equal(strength, r.Parameters.Strength);
            return (r.Images - source).abs().mean().item<float>();
        }
        Assert.True(Distance(0.1) < Distance(1.0));
    }

    [Fact]
    public void TheAutoencoderSeamCarriesSamplingThroughLatents()
    {
        // A 2x2 space-to-depth autoencoder: the UNet works on (4, 4, 4) latents of 8x8 grayscale images.
        var ae = new SpaceToDepthAutoencoder(imageChannels: 1, factor: 2);
        var options = TestPipelines.Small(classes: 3, channels: 4, size: 4) with { ChannelMultipliers = [1, 2] };
        using var pipe = DiffusionPipeline.Create(TestPipelines.Components(options, autoencoder: ae));
        using var r = pipe.Generate(TestPipelines.Request(count: 2) with { TrajectoryEvery = 2 });
        Assert.Equal([2L, 1, 8, 8], r.Images.shape);
        Assert.True(r.HasTrajectory);
        Assert.Equal([1L, 8, 8], pipe.ImageShape.Skip(0).ToArray());

        using var dir = new Diffusion.Tests.TempDir();
        pipe.Save(dir);
        using var loaded = DiffusionPipeline.Load(dir, "cpu", Diffusion.Core.Training.Precision.Float32);
        Assert.IsType<SpaceToDepthAutoencoder>(loaded.Components.Autoencoder);
        using var again = loaded.Generate(TestPipelines.Request(count: 2) with { TrajectoryEvery = 2 });
        Assert.Equal(TestPipelines.Pixels(r), TestPipelines.Pixels(again));
    }

    [Fact]
    public void AutocastSamplingStaysCloseToFloat32()
    {
        using var pipe = DiffusionPipeline.Create(TestPipelines.Components(TestPipelines.Small(classes: 3)));
        using var dir = new Diffusion.Tests.TempDir();
        pipe.Save(dir);
        float[] Sample(Diffusion.Core.Training.Precision precision)
        {
            using var loaded = DiffusionPipeline.Load(dir, "cpu", precision);
            Assert.Equal(precision == Diffusion.Core.Training.Precision.Autocast, loaded.Components.Autocast);
            using var r = loaded.Generate(TestPipelines.Request(count: 30) with { GuidanceScale = 2, BatchSize = 30 });
            return TestPipelines.Pixels(r);
        }
        var full = Sample(Diffusion.Core.Training.Precision.Float32);
        var amp = Sample(Diffusion.Core.Training.Precision.Autocast);
        var bf16 = Sample(Diffusion.Core.Training.Precision.BFloat16);
        double Mean(float[] a, float[] b) => a.Zip(b, (u, v) => Math.Abs((double)u - v)).Average();
        Assert.True(Mean(full, amp) > 0, "autocast sampled exactly what float32 did: the scope had no effect");
        // Pixels in [0, 1] (or bytes scaled the same way): bf16 rounding moves a sample a little, not the picture.
        Assert.True(Mean(full, amp) < 0.05 * full.Select(Math.Abs).Average() + 1e-3, $"autocast differs from float32 by {Mean(full, amp)} on average");
        Assert.True(Mean(full, amp) <= 1.5 * Mean(full, bf16), $"autocast {Mean(full, amp)}, whole-network bf16 {Mean(full, bf16)}");
    }

    [Fact]
    public void SpaceToDepthIsExact()
    {
        var ae = new SpaceToDepthAutoencoder(imageChannels: 3, factor: 4, scalingFactor: 0.5);
        using var x = rand([2, 3, 16, 8], generator: new Generator(1, CPU));
        using var z = ae.Encode(x);
        Assert.Equal([2L, 48, 4, 2], z.shape);
        using var back = ae.Decode(z);
        Assert.True(back.allclose(x, rtol: 0, atol: 1e-6));
        Assert.Throws<DiffusionException>(() => ae.Encode(zeros(1, 3, 10, 8)));
    }

    public static TheoryData<GenerationRequest, string> BadRequests => new()
    {
        { TestPipelines.Request() with { Count = 0 }, "Count" },
        { TestPipelines.Request() with { Steps = 0 }, "Steps" },
        { TestPipelines.Request() with { Steps = 1001 }, "Steps" },
        { TestPipelines.Request() with { GuidanceScale = -1 }, "GuidanceScale" },
        { TestPipelines.Request() with { Strength = 1.5 }, "Strength" },
        { TestPipelines.Request() with { Strength = 0.5 }, "InitImage" },
        { TestPipelines.Request() with { Classes = [7] }, "Class 7 is out of range" },
        { TestPipelines.Request() with { Classes = [0, 1] }, "one per image" },
        { TestPipelines.Request() with { Prompts = ["a cat"] }, "prompts" },
        { TestPipelines.Request() with { Sampler = "nope" }, "nope" },
        { TestPipelines.Request() with { BatchSize = 0 }, "BatchSize" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public void BadRequestsAreOneClearError(GenerationRequest request, string expected)
    {
        using var pipe = TestPipelines.Create();
        var e = Assert.Throws<DiffusionException>(() => pipe.Generate(request));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void AnInitImageOfTheWrongSizeIsOneError()
    {
        using var pipe = TestPipelines.Create();
        using var picture = new Image<Rgb24>(9, 8);
        var e = Assert.Throws<DiffusionException>(() => pipe.Generate(TestPipelines.Request() with { InitImage = picture, Strength = 0.5 }));
        Assert.Contains("9x8", e.Message);
    }

    [Fact]
    public void AClassForAnUnconditionalModelIsOneError()
    {
        using var pipe = TestPipelines.Create(TestPipelines.Small(classes: 0));
        var e = Assert.Throws<DiffusionException>(() => pipe.Generate(TestPipelines.Request()));
        Assert.Contains("unconditional", e.Message);
        using var ok = pipe.Generate(TestPipelines.Request() with { Classes = null });
        Assert.Null(ok.Parameters.GuidanceScale);
    }

    [Fact]
    public void ResultsEncodeAsPng()
    {
        using var pipe = TestPipelines.Create();
        using var r = pipe.Generate(TestPipelines.Request(count: 2));
        var png = r.ToPng(1);
        Assert.Equal(0x89, png[0]);
        using var decoded = Image.Load<Rgb24>(png);
        Assert.Equal(8, decoded.Width);
        Assert.True(r.GridPng(columns: 2).Length > png.Length / 2);
    }

    private static Task<long> LiveTensors(DiffusionPipeline pipe)
        => pipe.RunOnTorchThread(_ => { GC.Collect(); GC.WaitForPendingFinalizers(); return DisposeScopeManager.Statistics.ThreadTotalLiveCount; });
}
