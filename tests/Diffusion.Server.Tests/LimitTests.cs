using System.Net;
using System.Net.Http.Json;

namespace Diffusion.Server.Tests;

public sealed class LimitTests
{
    private static QueueStats Stats(DiffusionServer server) => server.Stats[TestServer.ModelName];

    [Fact]
    public async Task TheApiKeyIsRequiredOnV1ButNotForHealth()
    {
        var (server, client) = await TestServer.StartAsync(o => o with { ApiKey = "s3cret-key" });
        await using var _ = server;
        using var __ = client;
        var body = new { model = TestServer.ModelName, @class = 1, steps = 2 };
        using (var missing = await client.PostAsJsonAsync("/v1/generate", body)) await ValidationTests.AssertProblem(missing, 401, "API key");
        using (var models = await client.GetAsync("/v1/models")) await ValidationTests.AssertProblem(models, 401, "API key");
        foreach (var wrong in new[] { "s3cret-kez", "s3cret-key-longer", "", "s" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/generate") { Content = JsonContent.Create(body) };
            request.Headers.TryAddWithoutValidation(ApiKeyCheck.Header, wrong);
            using var response = await client.SendAsync(request);
            await ValidationTests.AssertProblem(response, 401, "API key");
        }
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/v1/generate") { Content = JsonContent.Create(body) })
        {
            request.Headers.Add(ApiKeyCheck.Header, "s3cret-key");
            using var ok = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models"))
        {
            request.Headers.Authorization = new("Bearer", "s3cret-key");
            using var ok = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }
        using var health = await client.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal(0, Stats(server).Failed);
    }

    [Fact]
    public async Task AFullQueueAnswers429()
    {
        var (server, client) = await TestServer.StartAsync(o => o with { QueueCapacity = 1 });
        await using var _ = server;
        using var __ = client;
        using var cts = new CancellationTokenSource();
        var slow = client.Generate(TestServer.Slow(), cts.Token);
        Assert.True(await TestServer.Eventually(() => Stats(server).Running == 1, TimeSpan.FromSeconds(10)), "the slow request never started");
        using (var refused = await client.Generate(new { model = TestServer.ModelName, @class = 1, steps = 2 }))
        {
            await ValidationTests.AssertProblem(refused, 429, "try again");
            Assert.True(refused.Headers.RetryAfter is not null);
        }
        Assert.Equal(1, Stats(server).Rejected);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => slow);
        Assert.True(await TestServer.Eventually(() => Stats(server).Running == 0, TimeSpan.FromSeconds(10)));
        using var later = await client.Generate(new { model = TestServer.ModelName, @class = 1, steps = 2 });
        Assert.Equal(HttpStatusCode.OK, later.StatusCode);
    }

    [Fact]
    public async Task ARequestOverItsTimeoutIs503AndItsJobStops()
    {
        var (server, client) = await TestServer.StartAsync(o => o with { RequestTimeout = TimeSpan.FromMilliseconds(300) });
        await using var _ = server;
        using var __ = client;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var response = await client.Generate(TestServer.Slow());
        await ValidationTests.AssertProblem(response, 503, "did not finish within 0.3 s");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"answered after {clock.Elapsed}");
        Assert.True(await TestServer.Eventually(() => Stats(server) is { Running: 0, CancelledBatches: 1 }, TimeSpan.FromSeconds(5)), $"{Stats(server)}");
        Assert.Equal(0, Stats(server).Completed);
    }

    [Fact]
    public async Task AClientThatDisconnectsCancelsItsJob()
    {
        var (server, client) = await TestServer.StartAsync();
        await using var _ = server;
        using var __ = client;
        // How long the slow request takes per step: a short run of the same batch first.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using (var probe = await client.Generate(new { model = TestServer.ModelName, @class = 3, count = 16, steps = 20, seed = 0 }))
            Assert.Equal(HttpStatusCode.OK, probe.StatusCode);
        var fullRun = clock.Elapsed * (1000 / 20.0);

        using var cts = new CancellationTokenSource();
        var slow = client.Generate(TestServer.Slow(), cts.Token);
        Assert.True(await TestServer.Eventually(() => Stats(server).Running == 1, TimeSpan.FromSeconds(10)));
        clock.Restart();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => slow);
        Assert.True(await TestServer.Eventually(() => Stats(server) is { Running: 0, CancelledBatches: 1 }, TimeSpan.FromSeconds(10)), $"{Stats(server)}");
        Assert.True(clock.Elapsed < fullRun / 2, $"stopped after {clock.Elapsed}; the full run takes about {fullRun}");
        Assert.Equal(1, Stats(server).Completed); // the probe only
        Assert.Equal(1, Stats(server).Cancelled);
    }

    [Fact]
    public async Task ConcurrentRequestsWithTheSameSettingsShareABatchAndGetTheirOwnImages()
    {
        object Body(int i) => new { model = TestServer.ModelName, @class = i, count = 2, steps = 8, seed = 100 + i };
        // Alone: a server that never batches.
        var (alone, aloneClient) = await TestServer.StartAsync(o => o with { Batching = false });
        var expected = new List<string>();
        await using (alone)
        using (aloneClient)
            for (int i = 0; i < 4; i++)
            {
                using var r = await aloneClient.Generate(Body(i));
                var json = TestServer.ReadJson(await r.Content.ReadAsStringAsync());
                Assert.Equal(1, json.GetProperty("batchRequests").GetInt32());
                expected.Add(json.GetProperty("grid").GetString()!);
            }

        var (server, client) = await TestServer.StartAsync(o => o with { GatherWindow = TimeSpan.FromMilliseconds(300) });
        await using var _ = server;
        using var __ = client;
        var responses = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => client.Generate(Body(i))));
        var results = await Task.WhenAll(responses.Select(async r => TestServer.ReadJson(await r.Content.ReadAsStringAsync())));
        Assert.Contains(results, j => j.GetProperty("batchRequests").GetInt32() > 1);
        Assert.True(Stats(server).Batches < 4, $"{Stats(server)}");
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal([i, i], results[i].GetProperty("parameters").GetProperty("classes").EnumerateArray().Select(e => e.GetInt32()));
            Assert.Equal(100 + i, results[i].GetProperty("parameters").GetProperty("seed").GetInt64());
            // Same images as alone, up to float rounding of the larger network batch: at most one 8-bit level per pixel.
            MaxPixelDifference(expected[i], results[i].GetProperty("grid").GetString()!, 1);
        }
        foreach (var r in responses) r.Dispose();
    }

    private static void MaxPixelDifference(string expected, string actual, int levels)
    {
        using var a = SixLabors.ImageSharp.Image.Load<SixLabors.ImageSharp.PixelFormats.L8>(Convert.FromBase64String(expected));
        using var b = SixLabors.ImageSharp.Image.Load<SixLabors.ImageSharp.PixelFormats.L8>(Convert.FromBase64String(actual));
        Assert.Equal((a.Width, a.Height), (b.Width, b.Height));
        int worst = 0;
        for (int y = 0; y < a.Height; y++)
            for (int x = 0; x < a.Width; x++)
                worst = Math.Max(worst, Math.Abs(a[x, y].PackedValue - b[x, y].PackedValue));
        Assert.True(worst <= levels, $"pixels differ by up to {worst} levels");
    }
}
