using System.Text.Json;
using System.Text.Json.Nodes;
using Diffusion.Core;
using Diffusion.Core.Components;
using TorchSharp;
using static Diffusion.Models.Tests.TestModels;
using static TorchSharp.torch;

namespace Diffusion.Models.Tests;

/// <summary>Names, shapes and saved formats of cross-attention UNets.</summary>
[Collection(TorchCollection.Name)]
public sealed class UNetCrossAttentionFormatTests
{
    [Fact]
    public void StateDictFollowsDiffusersUNet2DConditionModel()
    {
        using var scope = NewDisposeScope();
        using var model = Build(Cross(contextDim: 12));
        var sd = model.state_dict();
        long[] Shape(string key) => Assert.Contains(key, (IDictionary<string, Tensor>)sd).shape;
        const string t = "down_blocks.1.attentions.0.";
        const string b = t + "transformer_blocks.0.";
        // Level 1 has 32 channels, a context of width 12.
        Assert.Equal([32L, 12], Shape(b + "attn2.to_k.weight"));
        Assert.Equal([32L, 12], Shape(b + "attn2.to_v.weight"));
        Assert.Equal([32L, 32], Shape(b + "attn2.to_q.weight"));
        Assert.Equal([32L, 32], Shape(b + "attn2.to_out.0.weight"));
        Assert.Equal([32L], Shape(b + "attn2.to_out.0.bias"));
        Assert.Equal([32L, 32], Shape(b + "attn1.to_q.weight"));
        Assert.Equal([32L, 32], Shape(b + "attn1.to_k.weight"));
        Assert.Equal([32L, 32], Shape(b + "attn1.to_v.weight"));
        Assert.Equal([32L], Shape(b + "norm1.weight"));
        Assert.Equal([32L], Shape(b + "norm2.bias"));
        Assert.Equal([32L], Shape(b + "norm3.weight"));
        Assert.Equal([256L, 32], Shape(b + "ff.net.0.proj.weight")); // GEGLU: 2 · 4 · 32
        Assert.Equal([32L, 128], Shape(b + "ff.net.2.weight"));
        Assert.Equal([32L, 32, 1, 1], Shape(t + "proj_in.weight"));
        Assert.Equal([32L], Shape(t + "proj_out.bias"));
        Assert.Equal([32L], Shape(t + "norm.weight"));
        Assert.Equal([16L, 12], Shape("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"));
        Assert.Equal([32L, 12], Shape("mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight"));
        Assert.Equal([16L, 12], Shape("up_blocks.1.attentions.1.transformer_blocks.0.attn2.to_v.weight"));
        // No bias on the q, k, v projections; no self-attention block keys where the transformer took its place.
        Assert.DoesNotContain(b + "attn1.to_q.bias", sd.Keys);
        Assert.DoesNotContain(b + "attn2.to_k.bias", sd.Keys);
        Assert.DoesNotContain(t + "group_norm.weight", sd.Keys);
        Assert.DoesNotContain(t + "to_q.weight", sd.Keys);
        Assert.All(sd.Keys, k => Assert.DoesNotMatch(@"(^|\.)_", k));
        // The transformer starts as the identity in its norms, like every other norm.
        foreach (var (key, value) in sd.Where(kv => kv.Key.Contains("norm", StringComparison.Ordinal)))
            Assert.True(value.eq(key.EndsWith(".weight", StringComparison.Ordinal) ? 1 : 0).all().ToBoolean(), key);
    }

    [Fact]
    public void ModelsWithoutCrossAttentionHaveNoTransformerKeys()
    {
        using var model = Build(UNetPresets.Mnist);
        Assert.DoesNotContain(model.state_dict().Keys, k => k.Contains("transformer_blocks", StringComparison.Ordinal) || k.Contains("proj_in", StringComparison.Ordinal));
    }

    /// <summary>Output sums of seed-5 networks, recorded on main before cross-attention existed (the full outputs were
    /// bit-identical there and on this branch); a drift means the layout or the initial draws of old models changed.</summary>
    [Theory]
    [InlineData("small3", 91.0457)]
    [InlineData("mnist", 170.34796)]
    [InlineData("tiny", 577.95764)]
    public void ModelsWithoutCrossAttentionKeepTheirSeededOutputs(string name, double expectedSum)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var o = name switch { "small3" => Small(classes: 3), "mnist" => UNetPresets.Mnist, _ => UNetPresets.Tiny };
        using var model = Build(o, seed: 5);
        model.eval();
        var c = o.NumClasses is int k ? new Condition { Labels = Labels(0, k) } : Condition.None;
        double sum = model.Predict(Noise(o, 2), Timesteps(10, 700), c).sum().ToDouble();
        Assert.True(Math.Abs(sum - expectedSum) < 1e-3, $"{name}: output sum {sum:R}, recorded {expectedSum:R}");
    }

    [Fact]
    public void SaveAndLoadGiveIdenticalOutputs()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var o = Cross(classes: 3, crossLevels: [1], depth: 2);
        using var model = Build(o, seed: 3);
        model.eval();
        using var dir = new TempDir();
        UNetConfig.Save(o, dir);
        ComponentWeights.Save(model, dir);
        var fromConfig = UNetConfig.Load(dir, o.Prediction);
        Assert.Equal(o, fromConfig);
        var fromJson = UNetOptions.FromJson(o.ToJson());
        Assert.Equal(o, fromJson);
        using var loaded = new UNet(fromConfig);
        ComponentWeights.Load(loaded, dir);
        loaded.eval();
        var x = Noise(o, 2);
        var t = Timesteps(5, 500);
        var c = new Condition { Context = Context(2, 4), ContextMask = Mask(4, 4, 1), Labels = Labels(2, 3) };
        Assert.True(model.Predict(x, t, c).equal(loaded.Predict(x, t, c)).all().ToBoolean(), "the loaded model differs");
    }

    [Fact]
    public void ConfigWritesCrossAttentionKeysOnlyForCrossModels()
    {
        using var dir = new TempDir();
        UNetConfig.Save(Cross(crossLevels: [1]), dir);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, UNetConfig.FileName)))!.AsObject();
        Assert.Equal(12, (int)json["cross_attention_dim"]!);
        Assert.Equal(["AttnDownBlock2D", "CrossAttnDownBlock2D"], json["down_block_types"]!.AsArray().Select(n => (string)n!).ToArray());
        Assert.Equal(["CrossAttnUpBlock2D", "AttnUpBlock2D"], json["up_block_types"]!.AsArray().Select(n => (string)n!).ToArray());
        Assert.Equal("UNetMidBlock2DCrossAttn", (string?)json["mid_block_type"]);
        Assert.Equal(1, (int)json["transformer_layers_per_block"]!);
        Assert.False((bool)json["use_linear_projection"]!);

        var plain = Small();
        UNetConfig.Save(plain, dir);
        json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, UNetConfig.FileName)))!.AsObject();
        string[] crossKeys = ["cross_attention_dim", "mid_block_type", "transformer_layers_per_block", "use_linear_projection", "only_cross_attention"];
        foreach (var key in crossKeys) Assert.False(json.ContainsKey(key), key);
        Assert.Equal(["AttnDownBlock2D", "AttnDownBlock2D"], json["down_block_types"]!.AsArray().Select(n => (string)n!).ToArray());
        Assert.Equal(plain, UNetConfig.Load(dir, plain.Prediction));
    }

    [Theory]
    [InlineData("cross_attention_dim", null, "cross_attention_dim is missing")]
    [InlineData("mid_block_type", "UNetMidBlock2D", "mid_block_type UNetMidBlock2D")]
    [InlineData("use_linear_projection", true, "use_linear_projection")]
    [InlineData("down_block_types", "[\"DownBlock2D\", \"CrossAttnDownBlock2D\"]", "different attention on the two paths")]
    public void ConfigRejectsInconsistentCrossAttentionKeys(string key, object? value, string expected)
    {
        using var dir = new TempDir();
        UNetConfig.Save(Cross(), dir);
        string path = Path.Combine(dir, UNetConfig.FileName);
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        if (value is null) json.Remove(key);
        else if (value is string text && text.StartsWith('[')) json[key] = JsonNode.Parse(text);
        else json[key] = JsonValue.Create(value);
        File.WriteAllText(path, json.ToJsonString());
        var e = Assert.Throws<DiffusionException>(() => UNetConfig.Load(dir, Prediction.Epsilon));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ConfigWithoutCrossAttentionRefusesTransformerLayers()
    {
        using var dir = new TempDir();
        UNetConfig.Save(Small(), dir);
        string path = Path.Combine(dir, UNetConfig.FileName);
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        json["transformer_layers_per_block"] = 2;
        File.WriteAllText(path, json.ToJsonString());
        var e = Assert.Throws<DiffusionException>(() => UNetConfig.Load(dir, Prediction.Epsilon));
        Assert.Contains("transformer_layers_per_block = 2 needs cross_attention_dim", e.Message);
    }

    [Fact]
    public void OptionsJsonOmitsCrossAttentionWhenUnset()
    {
        using var doc = JsonDocument.Parse(UNetPresets.Mnist.ToJson());
        Assert.False(doc.RootElement.TryGetProperty("crossAttentionDim", out _));
        Assert.False(doc.RootElement.TryGetProperty("crossAttentionLevels", out _));
        Assert.False(doc.RootElement.TryGetProperty("transformerLayersPerBlock", out _));
        var cross = Cross(crossLevels: [1], depth: 2);
        using var crossDoc = JsonDocument.Parse(cross.ToJson());
        Assert.Equal(12, crossDoc.RootElement.GetProperty("crossAttentionDim").GetInt32());
        Assert.Equal(cross, UNetOptions.FromJson(cross.ToJson()));
        Assert.NotEqual(cross, cross with { CrossAttentionLevels = null });
        Assert.NotEqual(cross, cross with { TransformerLayersPerBlock = 3 });
        // JSON written before cross-attention existed loads as a model without it.
        var old = UNetOptions.FromJson("{\"sampleSize\": 16, \"channelMultipliers\": [1, 2], \"attentionLevels\": [1]}");
        Assert.Null(old.CrossAttentionDim);
        Assert.Empty(old.ResolvedCrossAttentionLevels);
    }

    public static TheoryData<UNetOptions, string> Invalid => new()
    {
        { new UNetOptions { CrossAttentionDim = 0 }, "CrossAttentionDim must be at least 1" },
        { new UNetOptions { CrossAttentionLevels = [1] }, "CrossAttentionLevels is set but CrossAttentionDim is null" },
        { new UNetOptions { TransformerLayersPerBlock = 2 }, "TransformerLayersPerBlock is set but CrossAttentionDim is null" },
        { new UNetOptions { CrossAttentionDim = 8, CrossAttentionLevels = [0, 1] }, "must be a subset of AttentionLevels [1, 2]" },
        { new UNetOptions { CrossAttentionDim = 8, CrossAttentionLevels = [1, 1] }, "CrossAttentionLevels lists a level twice" },
        { new UNetOptions { CrossAttentionDim = 8, TransformerLayersPerBlock = 0 }, "TransformerLayersPerBlock must be at least 1" },
        { new UNetOptions { CrossAttentionDim = 8, AttentionLevels = [], MidAttention = false }, "no block would read the context" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void ValidateNamesTheBadCrossAttentionOption(UNetOptions options, string expected)
    {
        var e = Assert.Throws<DiffusionException>(options.Validate);
        Assert.Contains(expected, e.Message);
    }
}
