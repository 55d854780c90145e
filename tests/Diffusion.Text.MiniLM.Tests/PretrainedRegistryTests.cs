using System.Text.Json.Nodes;
using Diffusion.Core;
using Diffusion.Text.Encoders;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Text.MiniLM.Tests;

public sealed class PretrainedRegistryTests(MiniLmFixture fixture) : IClassFixture<MiniLmFixture>
{
    [Fact]
    public void TheCacheReturnsTheEncodersOwnStatesAndEncodesEachRowOnce()
    {
        using var scope = NewDisposeScope();
        var tokenizer = MiniLmTokenizer.Create(16);
        var cached = new CachedTextEncoder(fixture.Encoder); // not disposed: the fixture owns the session
        var rows = tokenizer.Encode(["a seven", "digit 3", "a seven", ""]);
        var direct = fixture.Encoder.Encode(rows.Ids, rows.Mask);
        var once = cached.Encode(rows.Ids, rows.Mask);
        Assert.Equal(3, cached.CachedRows);
        var again = cached.Encode(rows.Ids, rows.Mask);
        Assert.Equal(3, cached.CachedRows);
        float worst = (direct.Hidden - once.Hidden).abs().max().ToSingle();
        Assert.True(worst < 1e-5f, $"cached states differ by {worst}");
        Assert.Equal(once.Hidden.data<float>().ToArray(), again.Hidden.data<float>().ToArray());
        Assert.Equal(direct.Pooled.data<float>().ToArray(), once.Pooled.data<float>().ToArray());
    }

    [Fact]
    public void AMiniLmConditionerIsRecordedByNameAndLoadsBackThroughTheRegistry()
    {
        MiniLm.Register();
        using var dir = new TempFolder();
        var conditioner = new TextConditioner(MiniLmTokenizer.Create(20), new CachedTextEncoder(fixture.Encoder), includePooled: false);
        TextComponents.Save(conditioner, dir.Path);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.Path, "conditioner", "config.json")))!;
        Assert.Equal("minilm", config["pretrained_text_encoder"]!.GetValue<string>());
        Assert.Equal(MiniLm.ModelName, config["pretrained_model"]!.GetValue<string>());
        Assert.Empty(Directory.GetFiles(dir.Path, "*.onnx", SearchOption.AllDirectories));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.safetensors", SearchOption.AllDirectories));
        var loaded = TextComponents.Load(dir.Path);
        try
        {
            Assert.Equal(20, loaded.Tokenizer.MaxLength);
            Assert.False(loaded.IncludePooled);
            Assert.IsType<MiniLmEncoder>(loaded.Encoder);
            using var scope = NewDisposeScope();
            var a = conditioner.Encode(["draw a seven"], CPU).Context!;
            var b = loaded.Encode(["draw a seven"], CPU).Context!;
            Assert.True((a - b).abs().max().ToSingle() < 1e-5f);
        }
        finally
        {
            (loaded.Encoder as IDisposable)?.Dispose();
        }
    }

    private sealed class TempFolder : IDisposable
    {
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "minilm-" + Guid.NewGuid().ToString("N")[..8]);

        public TempFolder() => Directory.CreateDirectory(Path);

        public void Dispose() => Directory.Delete(Path, true);
    }
}
