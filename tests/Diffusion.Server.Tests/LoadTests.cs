using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;

namespace Diffusion.Server.Tests;

public sealed class LoadTests
{
    [Fact]
    [Trait("Category", "Slow")]
    public async Task TwoHundredRequestsAtConcurrency8AreEach200Or429WellFormedAndMemoryStaysFlat()
    {
        var (server, client) = await TestServer.StartAsync(o => o with { QueueCapacity = 6 });
        await using var _ = server;
        using var __ = client;
        // A mix of settings, so some requests share batches and some cannot.
        object Body(int i) => new { model = TestServer.ModelName, @class = i % 10, count = 1 + i % 4, steps = i % 3 == 0 ? 6 : 4, seed = i, sampler = i % 5 == 0 ? "euler_a" : "ddim" };

        async Task<ConcurrentBag<(HttpStatusCode, int)>> Load(int requests)
        {
            var results = new ConcurrentBag<(HttpStatusCode, int)>();
            await Parallel.ForAsync(0, requests, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
            {
                using var response = await client.Generate(Body(i), ct);
                var text = await response.Content.ReadAsStringAsync(ct);
                var json = TestServer.ReadJson(text); // every answer is JSON: images or a problem
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    var images = json.GetProperty("images").EnumerateArray().Select(e => Convert.FromBase64String(e.GetString()!)).ToArray();
                    Assert.All(images, png => Assert.Equal(0x89, png[0]));
                    Assert.Equal(i, json.GetProperty("parameters").GetProperty("seed").GetInt64());
                    results.Add((response.StatusCode, images.Length));
                }
                else
                {
                    Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
                    Assert.Equal(429, json.GetProperty("status").GetInt32());
                    results.Add((response.StatusCode, 0));
                }
            });
            return results;
        }

        await Load(48).WaitAsync(TimeSpan.FromSeconds(120)); // warm-up: allocator pools, JIT, kernels
        long before = ResidentBytes();
        var clock = Stopwatch.StartNew();
        var results = await Load(200).WaitAsync(TimeSpan.FromSeconds(180));
        long after = ResidentBytes();

        Assert.Equal(200, results.Count);
        int ok = results.Count(r => r.Item1 == HttpStatusCode.OK);
        Assert.True(ok > 0, "no request succeeded");
        // Each answered request got the images it asked for: none lost on the way through a shared batch.
        Assert.All(results.Where(r => r.Item1 == HttpStatusCode.OK), r => Assert.InRange(r.Item2, 1, 4));
        var stats = server.Stats[TestServer.ModelName];
        Assert.Equal(0, stats.Failed);
        Assert.Equal(0, stats.Running + stats.Waiting);
        double growth = (after - before) / (double)before;
        Assert.True(Math.Abs(growth) <= 0.10, $"resident memory {before >> 20} MB before, {after >> 20} MB after ({growth:P1}); {ok} ok in {clock.Elapsed}");
    }

    private static long ResidentBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return process.WorkingSet64;
    }
}
