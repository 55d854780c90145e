using System.Text.Json;
using Diffusion.Core;

namespace Diffusion.Models.Tests;

public sealed class UNetOptionsTests
{
    private static readonly UNetOptions Custom = new()
    {
        InChannels = 3,
        OutChannels = 3,
        SampleSize = 64,
        BaseChannels = 48,
        ChannelMultipliers = [1, 2, 3, 4],
        LayersPerBlock = 3,
        AttentionLevels = [2, 3],
        MidAttention = false,
        AttentionHeadDim = 24,
        NumClasses = 7,
        Prediction = Prediction.V,
        Dropout = 0.125,
        GroupNormGroups = 24,
        TimeEmbeddingDim = 100,
    };

    public static TheoryData<string> Presets => new() { "default", "mnist", "tiny", "custom" };

    private static UNetOptions Get(string name) => name switch
    {
        "default" => new UNetOptions(),
        "mnist" => UNetPresets.Mnist,
        "tiny" => UNetPresets.Tiny,
        _ => Custom,
    };

    [Theory]
    [MemberData(nameof(Presets))]
    public void JsonRoundTripIsExact(string name)
    {
        var o = Get(name);
        o.Validate();
        string json = o.ToJson();
        var back = UNetOptions.FromJson(json);
        Assert.Equal(json, back.ToJson());
        Assert.Equal(o, back);
        Assert.Equal(o.GetHashCode(), back.GetHashCode());
        // The plain serializer (no SDK options) round-trips too.
        string plain = JsonSerializer.Serialize(o);
        Assert.Equal(plain, JsonSerializer.Serialize(JsonSerializer.Deserialize<UNetOptions>(plain)));
    }

    [Fact]
    public void JsonUsesArraysAndEnumNames()
    {
        using var doc = JsonDocument.Parse(Custom.ToJson());
        var root = doc.RootElement;
        Assert.Equal(JsonValueKind.Array, root.GetProperty("channelMultipliers").ValueKind);
        Assert.Equal("[1,2,3,4]", root.GetProperty("channelMultipliers").GetRawText().Replace(" ", "").Replace("\n", "").Replace("\r", ""));
        Assert.Equal("V", root.GetProperty("prediction").GetString());
        Assert.False(root.TryGetProperty("resolvedTimeEmbeddingDim", out _));
        Assert.Contains("\"Prediction\": \"V\"", JsonSerializer.Serialize(Custom, new JsonSerializerOptions { WriteIndented = true }));
    }

    [Fact]
    public void EqualityComparesArrayContents()
    {
        Assert.Equal(new UNetOptions(), new UNetOptions());
        Assert.NotEqual(new UNetOptions(), new UNetOptions { ChannelMultipliers = [1, 2, 4] });
        Assert.NotEqual(new UNetOptions(), new UNetOptions { AttentionLevels = [2] });
        Assert.NotEqual(new UNetOptions(), new UNetOptions { NumClasses = 10 });
    }

    [Fact]
    public void PresetsAreFreshInstances()
    {
        UNetPresets.Mnist.ChannelMultipliers[0] = 99;
        Assert.Equal(1, UNetPresets.Mnist.ChannelMultipliers[0]);
    }

    [Fact]
    public void TimeEmbeddingDimDefaultsToFourTimesBaseChannels()
    {
        Assert.Equal(128, new UNetOptions { BaseChannels = 32 }.ResolvedTimeEmbeddingDim);
        Assert.Equal(100, Custom.ResolvedTimeEmbeddingDim);
    }

    public static TheoryData<UNetOptions, string> Invalid => new()
    {
        { new UNetOptions { SampleSize = 30, ChannelMultipliers = [1, 2, 2] }, "SampleSize 30" },
        { new UNetOptions { ChannelMultipliers = [] }, "ChannelMultipliers" },
        { new UNetOptions { ChannelMultipliers = [1, 0] }, "ChannelMultipliers" },
        { new UNetOptions { AttentionLevels = [3] }, "AttentionLevels" },
        { new UNetOptions { AttentionLevels = [1, 1] }, "twice" },
        { new UNetOptions { GroupNormGroups = 5 }, "GroupNormGroups 5" },
        { new UNetOptions { AttentionHeadDim = 48 }, "AttentionHeadDim 48" },
        { new UNetOptions { NumClasses = 0 }, "NumClasses" },
        { new UNetOptions { Dropout = 1 }, "Dropout" },
        { new UNetOptions { LayersPerBlock = 0 }, "LayersPerBlock" },
        { new UNetOptions { InChannels = 0 }, "InChannels" },
        { new UNetOptions { TimeEmbeddingDim = 0 }, "TimeEmbeddingDim" },
        { new UNetOptions { Prediction = (Prediction)42 }, "prediction" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void ValidateNamesTheBadOption(UNetOptions options, string expected)
    {
        var e = Assert.Throws<DiffusionException>(options.Validate);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void FromJsonRejectsGarbageAndInvalidOptions()
    {
        Assert.Throws<DiffusionException>(() => UNetOptions.FromJson("{ not json"));
        Assert.Throws<DiffusionException>(() => UNetOptions.FromJson("null"));
        Assert.Throws<DiffusionException>(() => UNetOptions.FromJson("{\"sampleSize\": 30}"));
        Assert.Throws<DiffusionException>(() => UNetOptions.FromJson("{\"prediction\": \"Banana\"}"));
    }
}
