using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Diffusion.Server.Tests;

public sealed class ApiTests : IAsyncLifetime
{
    private DiffusionServer _server = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync() => (_server, _client) = await TestServer.StartAsync();

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task GenerateAnswersDecodablePngsOfTheModelSizeAndTheResolvedParameters()
    {
        using var response = await _client.Generate(new { model = TestServer.ModelName, @class = 7, count = 3, steps = 5, guidance = 2, sampler = "dpmpp_2m", seed = 11 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = TestServer.ReadJson(await response.Content.ReadAsStringAsync());
        var images = json.GetProperty("images").EnumerateArray().Select(e => Convert.FromBase64String(e.GetString()!)).ToArray();
        Assert.Equal(3, images.Length);
        foreach (var png in images)
        {
            using var image = Image.Load<Rgb24>(png);
            Assert.Equal((8, 8), (image.Width, image.Height));
        }
        using var grid = Image.Load<Rgb24>(Convert.FromBase64String(json.GetProperty("grid").GetString()!));
        Assert.True(grid.Width > 8 && grid.Height >= 8, $"{grid.Width}x{grid.Height}");
        var p = json.GetProperty("parameters");
        Assert.Equal(3, p.GetProperty("count").GetInt32());
        Assert.Equal([7, 7, 7], p.GetProperty("classes").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal("dpmpp_2m", p.GetProperty("sampler").GetString());
        Assert.Equal(5, p.GetProperty("steps").GetInt32());
        Assert.Equal(2, p.GetProperty("guidanceScale").GetDouble());
        Assert.Equal(11, p.GetProperty("seed").GetInt64());
        Assert.Equal(TestServer.ModelName, json.GetProperty("model").GetString());
    }

    [Fact]
    public async Task TheSameSeedGivesTheSameBytesAndAnotherSeedOtherImages()
    {
        async Task<string> Grid(long seed)
        {
            using var r = await _client.Generate(new { model = TestServer.ModelName, @class = 1, count = 2, steps = 4, seed });
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            return TestServer.ReadJson(await r.Content.ReadAsStringAsync()).GetProperty("grid").GetString()!;
        }
        var a = await Grid(5);
        Assert.Equal(a, await Grid(5));
        Assert.NotEqual(a, await Grid(6));
    }

    [Fact]
    public async Task TheServersImagesAreThePipelinesImagesForTheSameRequest()
    {
        using var r = await _client.Generate(new { model = TestServer.ModelName, @class = 4, count = 2, steps = 6, guidance = 3, seed = 9 });
        var json = TestServer.ReadJson(await r.Content.ReadAsStringAsync());
        using var pipe = Pipelines.DiffusionPipeline.Load(Path.Combine(TestServer.ModelsDirectory, TestServer.ModelName), "cpu", Core.Training.Precision.Float32);
        using var alone = pipe.Generate(new Pipelines.GenerationRequest { Classes = [4], Count = 2, Steps = 6, GuidanceScale = 3, Seed = 9, Sampler = "ddim" });
        Assert.Equal(Convert.ToBase64String(alone.ToPng(1)), json.GetProperty("images")[1].GetString());
    }

    [Fact]
    public async Task AcceptImagePngAnswersTheGridAsPng()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/generate") { Content = TestServer.Json("""{"model":"tiny","class":7,"count":4,"steps":3}""") };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("image/png"));
        using var response = await _client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/png", response.Content.Headers.ContentType?.MediaType);
        using var grid = Image.Load<Rgb24>(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(2 * 8 + 3 * 2, grid.Width); // 2 x 2 grid of 8 px images with 2 px padding
    }

    [Fact]
    public async Task EventStreamSendsProgressThenTheResult()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/generate") { Content = TestServer.Json("""{"model":"tiny","class":2,"count":1,"steps":5,"trajectory":true}""") };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await _client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var blocks = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        var events = blocks.Select(b => (Name: b.Split('\n')[0]["event: ".Length..], Data: TestServer.ReadJson(b.Split('\n')[1]["data: ".Length..]))).ToList();
        Assert.Equal("result", events[^1].Name);
        var progress = events.Where(e => e.Name == "progress").Select(e => e.Data.GetProperty("step").GetInt32()).ToList();
        Assert.Contains(5, progress);
        Assert.Equal(progress.Order(), progress);
        var gif = Convert.FromBase64String(events[^1].Data.GetProperty("gif").GetString()!);
        Assert.Equal("GIF8"u8.ToArray(), gif[..4]);
    }

    [Fact]
    public async Task ModelsListsTheLoadedModelWithItsClassesAndConfig()
    {
        var json = TestServer.ReadJson(await _client.GetStringAsync("/v1/models"));
        var model = Assert.Single(json.GetProperty("models").EnumerateArray());
        Assert.Equal("tiny", model.GetProperty("name").GetString());
        Assert.Equal("class", model.GetProperty("conditioning").GetString());
        Assert.Equal(Enumerable.Range(0, 10).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), model.GetProperty("classes").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(8, model.GetProperty("width").GetInt32());
        Assert.Equal("UNet2DModel", model.GetProperty("config").GetProperty("unet").GetProperty("_class_name").GetString());
        Assert.Contains(json.GetProperty("samplers").EnumerateArray(), s => s.GetProperty("name").GetString() == "dpmpp_2m");
        Assert.Equal(16, json.GetProperty("limits").GetProperty("maxCount").GetInt32());
    }

    [Fact]
    public async Task HealthAndTheOpenApiDocumentAnswer()
    {
        var health = TestServer.ReadJson(await _client.GetStringAsync("/health"));
        Assert.Equal("ok", health.GetProperty("status").GetString());
        Assert.True(health.GetProperty("models").TryGetProperty("tiny", out _));
        var doc = TestServer.ReadJson(await _client.GetStringAsync("/openapi/v1.json"));
        Assert.StartsWith("3.", doc.GetProperty("openapi").GetString());
        var paths = doc.GetProperty("paths");
        foreach (var path in new[] { "/v1/generate", "/v1/models", "/health" }) Assert.True(paths.TryGetProperty(path, out _), path);
        Assert.True(doc.GetProperty("components").GetProperty("schemas").TryGetProperty("GenerateBody", out _));
    }

    [Fact]
    public async Task TheWebPageIsServedWithItsScriptAndAStrictContentPolicy()
    {
        using var page = await _client.GetAsync("/");
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("id=\"generate\"", await page.Content.ReadAsStringAsync());
        Assert.Contains("default-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Contains("/v1/generate", await _client.GetStringAsync("/app.js"));
    }
}
