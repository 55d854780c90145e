using System.Net;

namespace Diffusion.Server.Tests;

public sealed class ValidationTests : IAsyncLifetime
{
    private DiffusionServer _server = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync() => (_server, _client) = await TestServer.StartAsync(o => o with { MaxSteps = 200, MaxBodyBytes = 1024 });

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }

    [Theory]
    [InlineData("""{"model":"tiny","class":7""", 400, "Malformed")]                       // truncated JSON
    [InlineData("""not json""", 400, "Malformed")]
    [InlineData("""null""", 400, "null")]
    [InlineData("""{"model":"tiny","count":1e30}""", 400, "Malformed")]                  // does not fit an int
    [InlineData("""{"model":"tiny","seed":123456789012345678901234567890}""", 400, "Malformed")]
    [InlineData("""{"model":"tiny","count":1000000}""", 400, "count")]
    [InlineData("""{"model":"tiny","count":0}""", 400, "count")]
    [InlineData("""{"model":"tiny","steps":-5}""", 400, "steps")]
    [InlineData("""{"model":"tiny","steps":201}""", 400, "steps")]
    [InlineData("""{"model":"tiny","guidance":-1}""", 400, "guidance")]
    [InlineData("""{"model":"tiny","guidance":1e308}""", 400, "guidance")]
    [InlineData("""{"model":"tiny","seed":-1}""", 400, "seed")]
    [InlineData("""{"model":"tiny","class":10}""", 400, "class")]
    [InlineData("""{"model":"tiny","class":-1}""", 400, "class")]
    [InlineData("""{"model":"tiny","count":"3"}""", 400, "Malformed")]                   // numbers only as numbers
    [InlineData("""{"model":"tiny","class":7,"evil":"$type"}""", 400, "evil")]            // unknown field
    [InlineData("""{"model":"tiny","sampler":"rm -rf"}""", 400, "Known samplers")]
    [InlineData("""{"model":"tiny","class":1,"prompt":"a cat"}""", 400, "not both")]
    [InlineData("""{"model":"tiny","prompt":"a cat"}""", 400, "text conditioner")]        // the pipeline refuses: a DiffusionException
    [InlineData("""{"model":"../../etc/passwd"}""", 404, "No model")]
    [InlineData("""{"model":"nope"}""", 404, "Served: tiny")]
    public async Task BadRequestsAreAnsweredWithProblemDetails(string body, int status, string detail)
    {
        using var response = await _client.PostAsync("/v1/generate", TestServer.Json(body));
        await AssertProblem(response, status, detail);
    }

    [Fact]
    public async Task AnOversizedBodyIs413()
    {
        var big = $$"""{"model":"tiny","prompt":"{{new string('a', 4000)}}"}""";
        using var response = await _client.PostAsync("/v1/generate", TestServer.Json(big));
        await AssertProblem(response, 413, "larger than 1024");
    }

    [Fact]
    public async Task AnOversizedChunkedBodyIs413()
    {
        // No Content-Length: Kestrel's body limit stops the read.
        var content = new StreamContent(new MemoryStream(System.Text.Encoding.UTF8.GetBytes($$"""{"model":"tiny","prompt":"{{new string('a', 4000)}}"}""")));
        content.Headers.ContentType = new("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/generate") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using var response = await _client.SendAsync(request);
        await AssertProblem(response, 413, "larger than");
    }

    [Fact]
    public async Task APromptLongerThanTheLimitIs400()
    {
        using var started = await StartDisposable(o => o with { MaxPromptLength = 10 });
        using var response = await started.Client.PostAsync("/v1/generate", TestServer.Json("""{"model":"tiny","prompt":"eleven char"}"""));
        await AssertProblem(response, 400, "1 to 10 characters");
    }

    [Fact]
    public async Task NotJsonIs415()
    {
        // Routing refuses it (the endpoint declares it accepts JSON) before the handler runs.
        using var response = await _client.PostAsync("/v1/generate", new StringContent("model=tiny", System.Text.Encoding.UTF8, "application/x-www-form-urlencoded"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(415, TestServer.ReadJson(await response.Content.ReadAsStringAsync()).GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task AnUnknownRouteIs404WithProblemDetails()
    {
        using var response = await _client.GetAsync("/v1/nothing");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    internal static async Task AssertProblem(HttpResponseMessage response, int status, string detail)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"expected {status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var json = TestServer.ReadJson(text);
        Assert.Equal(status, json.GetProperty("status").GetInt32());
        Assert.Contains(detail, json.GetProperty("detail").GetString());
    }

    private static async Task<Disposable> StartDisposable(Func<ServerOptions, ServerOptions> configure)
    {
        var (server, client) = await TestServer.StartAsync(configure);
        return new Disposable(server, client);
    }

    private sealed record Disposable(DiffusionServer Server, HttpClient Client) : IDisposable
    {
        public void Dispose()
        {
            Client.Dispose();
            Server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }
}
