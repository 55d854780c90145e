using static Diffusion.Models.Tests.TestModels;
using static TorchSharp.torch;

namespace Diffusion.Models.Tests;

[Collection(TorchCollection.Name)]
public sealed class UNetStateDictTests
{
    [Fact]
    public void KeysFollowDiffusersUNet2DModel()
    {
        // Mnist layout: 3 levels (16, 32, 64 channels), 2 blocks per level, attention at level 2 and mid.
        using var model = Build(UNetPresets.Mnist);
        var keys = model.state_dict().Keys.ToHashSet();
        string[] expected =
        [
            "conv_in.weight", "conv_in.bias",
            "time_embedding.linear_1.weight", "time_embedding.linear_2.bias",
            "class_embedding.weight",
            "down_blocks.0.resnets.0.norm1.weight", "down_blocks.0.resnets.0.conv1.weight",
            "down_blocks.0.resnets.0.time_emb_proj.weight", "down_blocks.0.resnets.0.norm2.bias",
            "down_blocks.0.resnets.1.conv2.weight", "down_blocks.0.downsamplers.0.conv.weight",
            "down_blocks.1.resnets.0.conv_shortcut.weight", "down_blocks.1.downsamplers.0.conv.bias",
            "down_blocks.2.resnets.0.conv_shortcut.bias",
            "down_blocks.2.resnets.1.conv2.weight",
            "down_blocks.2.attentions.0.group_norm.weight", "down_blocks.2.attentions.1.to_q.weight",
            "down_blocks.2.attentions.1.to_k.bias", "down_blocks.2.attentions.1.to_v.weight",
            "down_blocks.2.attentions.1.to_out.0.weight",
            "mid_block.resnets.0.conv1.weight", "mid_block.resnets.1.conv2.weight",
            "mid_block.attentions.0.to_q.weight", "mid_block.attentions.0.to_out.0.bias",
            "up_blocks.0.resnets.0.conv_shortcut.weight", "up_blocks.0.resnets.2.conv1.weight",
            "up_blocks.0.attentions.2.to_v.weight", "up_blocks.0.upsamplers.0.conv.weight",
            "up_blocks.1.resnets.2.conv_shortcut.weight", "up_blocks.1.upsamplers.0.conv.weight",
            "up_blocks.2.resnets.2.norm1.weight",
            "conv_norm_out.weight", "conv_norm_out.bias", "conv_out.weight", "conv_out.bias",
        ];
        foreach (var key in expected) Assert.Contains(key, keys);
        string[] absent =
        [
            "down_blocks.2.downsamplers.0.conv.weight", "up_blocks.2.upsamplers.0.conv.weight",
            "down_blocks.0.attentions.0.to_q.weight", "up_blocks.2.attentions.0.to_q.weight",
            "down_blocks.0.resnets.0.conv_shortcut.weight", "up_blocks.0.resnets.3.conv1.weight",
        ];
        foreach (var key in absent) Assert.DoesNotContain(key, keys);
        // No C# field name (_convIn, _resnets, …) leaks into a key.
        Assert.All(keys, k => Assert.DoesNotMatch(@"(^|\.)_", k));
    }

    [Fact]
    public void ShapesFollowDiffusersChannelArithmetic()
    {
        using var model = Build(UNetPresets.Mnist);
        var sd = model.state_dict();
        long[] Shape(string key) => sd[key].shape;
        Assert.Equal(new long[] { 16, 1, 3, 3 }, Shape("conv_in.weight"));
        Assert.Equal(new long[] { 64, 16 }, Shape("time_embedding.linear_1.weight"));
        Assert.Equal(new long[] { 11, 64 }, Shape("class_embedding.weight"));
        Assert.Equal(new long[] { 32, 16, 3, 3 }, Shape("down_blocks.1.resnets.0.conv1.weight"));
        Assert.Equal(new long[] { 64, 64, 3, 3 }, Shape("down_blocks.2.resnets.1.conv2.weight"));
        // Up level 0 (7×7, 64 ch): block 0 takes the mid output 64 + skip 64; block 2 takes 64 + the 32 of the 14×14 downsampler.
        Assert.Equal(new long[] { 64, 128, 3, 3 }, Shape("up_blocks.0.resnets.0.conv1.weight"));
        Assert.Equal(new long[] { 64, 96, 1, 1 }, Shape("up_blocks.0.resnets.2.conv_shortcut.weight"));
        // Up level 1 (14×14, 32 ch): block 0 takes 64 from below + skip 32; block 2 takes 32 + the 16 of the 28×28 downsampler.
        Assert.Equal(new long[] { 32, 96, 3, 3 }, Shape("up_blocks.1.resnets.0.conv1.weight"));
        Assert.Equal(new long[] { 32, 48, 1, 1 }, Shape("up_blocks.1.resnets.2.conv_shortcut.weight"));
        // Up level 2 (28×28, 16 ch): block 0 takes 32 from below + skip 16; block 2 takes 16 + conv_in's 16.
        Assert.Equal(new long[] { 16, 48, 3, 3 }, Shape("up_blocks.2.resnets.0.conv1.weight"));
        Assert.Equal(new long[] { 16, 32, 1, 1 }, Shape("up_blocks.2.resnets.2.conv_shortcut.weight"));
        Assert.Equal(new long[] { 64, 64 }, Shape("mid_block.attentions.0.to_q.weight"));
        Assert.Equal(new long[] { 1, 16, 3, 3 }, Shape("conv_out.weight"));
    }

    [Fact]
    public void UnconditionalModelHasNoClassEmbedding()
    {
        using var model = Build(UNetPresets.Tiny);
        Assert.DoesNotContain(model.state_dict().Keys, k => k.StartsWith("class_embedding", StringComparison.Ordinal));
        Assert.Equal(model.parameters().Sum(p => p.numel()), model.ParameterCount);
    }
}
