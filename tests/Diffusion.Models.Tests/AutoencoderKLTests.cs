using System.Text.Json.Nodes;
using Diffusion.Core;
using Diffusion.Tests;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Models.Tests;

[Collection(TorchCollection.Name)]
public sealed class AutoencoderKLTests
{
    /// <summary>Two levels (×2), one layer per block: small enough to list every key.</summary>
    private static readonly AutoencoderKLOptions TwoLevels = new() { BlockOutChannels = [16, 32], LayersPerBlock = 1, NormGroups = 8, SampleSize = 16 };

    private static AutoencoderKL Build(AutoencoderKLOptions o, ulong seed = 1)
    {
        using var g = new Generator(seed, CPU);
        var vae = new AutoencoderKL(o, g);
        vae.eval();
        return vae;
    }

    private static Tensor Images(long b, long size, ulong seed = 2) => rand(new[] { b, 3L, size, size }, generator: new Generator(seed, CPU)) * 2 - 1;

    /// <summary>
    /// Every module of diffusers' <c>AutoencoderKL</c> for block_out_channels (16, 32), layers_per_block 1, as its sources
    /// build it (src/diffusers/models/autoencoders/autoencoder_kl.py, vae.py: <c>Encoder</c> / <c>Decoder</c>;
    /// unets/unet_2d_blocks.py: <c>DownEncoderBlock2D</c>, <c>UpDecoderBlock2D</c> with layers_per_block + 1 resnets,
    /// <c>UNetMidBlock2D</c>; resnet.py: <c>ResnetBlock2D</c> without <c>time_emb_proj</c>; downsampling.py: <c>Downsample2D</c>
    /// names its convolution <c>conv</c>; attention_processor.py: <c>Attention</c> with <c>group_norm</c>, <c>to_q/k/v</c>,
    /// <c>to_out.0</c>). Each has a weight and a bias.
    /// </summary>
    private static readonly string[] DiffusersModules =
    [
        "encoder.conv_in",
        "encoder.down_blocks.0.resnets.0.norm1", "encoder.down_blocks.0.resnets.0.conv1",
        "encoder.down_blocks.0.resnets.0.norm2", "encoder.down_blocks.0.resnets.0.conv2",
        "encoder.down_blocks.0.downsamplers.0.conv",
        "encoder.down_blocks.1.resnets.0.norm1", "encoder.down_blocks.1.resnets.0.conv1",
        "encoder.down_blocks.1.resnets.0.norm2", "encoder.down_blocks.1.resnets.0.conv2",
        "encoder.down_blocks.1.resnets.0.conv_shortcut",
        "encoder.mid_block.resnets.0.norm1", "encoder.mid_block.resnets.0.conv1",
        "encoder.mid_block.resnets.0.norm2", "encoder.mid_block.resnets.0.conv2",
        "encoder.mid_block.attentions.0.group_norm", "encoder.mid_block.attentions.0.to_q",
        "encoder.mid_block.attentions.0.to_k", "encoder.mid_block.attentions.0.to_v",
        "encoder.mid_block.attentions.0.to_out.0",
        "encoder.mid_block.resnets.1.norm1", "encoder.mid_block.resnets.1.conv1",
        "encoder.mid_block.resnets.1.norm2", "encoder.mid_block.resnets.1.conv2",
        "encoder.conv_norm_out", "encoder.conv_out",
        "quant_conv", "post_quant_conv",
        "decoder.conv_in",
        "decoder.mid_block.resnets.0.norm1", "decoder.mid_block.resnets.0.conv1",
        "decoder.mid_block.resnets.0.norm2", "decoder.mid_block.resnets.0.conv2",
        "decoder.mid_block.attentions.0.group_norm", "decoder.mid_block.attentions.0.to_q",
        "decoder.mid_block.attentions.0.to_k", "decoder.mid_block.attentions.0.to_v",
        "decoder.mid_block.attentions.0.to_out.0",
        "decoder.mid_block.resnets.1.norm1", "decoder.mid_block.resnets.1.conv1",
        "decoder.mid_block.resnets.1.norm2", "decoder.mid_block.resnets.1.conv2",
        "decoder.up_blocks.0.resnets.0.norm1", "decoder.up_blocks.0.resnets.0.conv1",
        "decoder.up_blocks.0.resnets.0.norm2", "decoder.up_blocks.0.resnets.0.conv2",
        "decoder.up_blocks.0.resnets.1.norm1", "decoder.up_blocks.0.resnets.1.conv1",
        "decoder.up_blocks.0.resnets.1.norm2", "decoder.up_blocks.0.resnets.1.conv2",
        "decoder.up_blocks.0.upsamplers.0.conv",
        "decoder.up_blocks.1.resnets.0.norm1", "decoder.up_blocks.1.resnets.0.conv1",
        "decoder.up_blocks.1.resnets.0.norm2", "decoder.up_blocks.1.resnets.0.conv2",
        "decoder.up_blocks.1.resnets.0.conv_shortcut",
        "decoder.up_blocks.1.resnets.1.norm1", "decoder.up_blocks.1.resnets.1.conv1",
        "decoder.up_blocks.1.resnets.1.norm2", "decoder.up_blocks.1.resnets.1.conv2",
        "decoder.conv_norm_out", "decoder.conv_out",
    ];

    [Fact]
    public void SavedWeightsHaveDiffusersKeysAndReloadToIdenticalOutputs()
    {
        using var dir = new TempDir();
        using var scope = NewDisposeScope();
        using var vae = Build(TwoLevels);
        vae.Save(dir);
        var expected = DiffusersModules.SelectMany(m => new[] { m + ".weight", m + ".bias" }).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(expected, vae.state_dict().Keys.Order(StringComparer.Ordinal).ToArray());
        var onDisk = StateDicts.Load(Path.Combine(dir, "diffusion_pytorch_model.safetensors"));
        Assert.Equal(expected, onDisk.Keys.Order(StringComparer.Ordinal).ToArray());
        // diffusers' shapes: attention projections are Linear (C, C); quant_conv is 1x1 over 2·latent channels.
        Assert.Equal([32L, 32], onDisk["encoder.mid_block.attentions.0.to_q.weight"].shape);
        Assert.Equal([8L, 8, 1, 1], onDisk["quant_conv.weight"].shape);
        Assert.Equal([8L, 32, 3, 3], onDisk["encoder.conv_out.weight"].shape);

        using var reloaded = AutoencoderKL.Load(dir);
        Assert.Equal(TwoLevels, reloaded.Options);
        var x = Images(2, 16);
        using (no_grad())
        {
            Assert.True(vae.Encode(x, new Generator(5, CPU)).eq(reloaded.Encode(x, new Generator(5, CPU))).all().item<bool>());
            var z = vae.Encode(x);
            Assert.True(vae.Decode(z).eq(reloaded.Decode(z)).all().item<bool>());
        }
    }

    [Fact]
    public void ConfigUsesDiffusersNames()
    {
        using var dir = new TempDir();
        using var vae = Build(TwoLevels with { ScalingFactor = 0.5 });
        vae.Save(dir);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject();
        Assert.Equal("AutoencoderKL", (string?)json["_class_name"]);
        Assert.Equal([16, 32], json["block_out_channels"]!.AsArray().Select(n => (int)n!).ToArray());
        Assert.Equal(["DownEncoderBlock2D", "DownEncoderBlock2D"], json["down_block_types"]!.AsArray().Select(n => (string)n!).ToArray());
        Assert.Equal(["UpDecoderBlock2D", "UpDecoderBlock2D"], json["up_block_types"]!.AsArray().Select(n => (string)n!).ToArray());
        Assert.Equal(4, (int)json["latent_channels"]!);
        Assert.Equal(0.5, (double)json["scaling_factor"]!);
        Assert.Equal(16, (int)json["sample_size"]!);
        Assert.Equal(1, (int)json["layers_per_block"]!);
        Assert.Equal(8, (int)json["norm_num_groups"]!);
        Assert.Equal(3, (int)json["in_channels"]!);
        Assert.True((bool)json["mid_block_add_attention"]!);
        Assert.Equal(0.5, AutoencoderKLConfig.Load(dir).ScalingFactor);

        json["down_block_types"] = new JsonArray("DownEncoderBlock2D", "AttnDownEncoderBlock2D");
        File.WriteAllText(Path.Combine(dir, "config.json"), json.ToJsonString());
        Assert.Contains("down_block_types", Assert.Throws<DiffusionException>(() => AutoencoderKLConfig.Load(dir)).Message);
    }

    [Theory]
    [InlineData(3, 4)]
    [InlineData(4, 8)]
    public void DownsamplesByTwoPerLevelAndDecodesBack(int levels, int factor)
    {
        using var scope = NewDisposeScope();
        var o = new AutoencoderKLOptions { BlockOutChannels = Enumerable.Repeat(16, levels).ToArray(), NormGroups = 8, SampleSize = 32 };
        using var vae = Build(o);
        Assert.Equal(factor, vae.DownsampleFactor);
        using var noGrad = no_grad();
        var z = vae.Encode(Images(2, 32));
        Assert.Equal([2L, 4, 32 / factor, 32 / factor], z.shape);
        var x = vae.Decode(z);
        Assert.Equal([2L, 3, 32, 32], x.shape);
        Assert.Equal(ScalarType.Float32, x.dtype);
        Assert.True(isfinite(x).all().item<bool>());
    }

    [Fact]
    public void EncodeSamplesThePosteriorWithTheGeneratorOrTakesItsMeanAndScales()
    {
        using var scope = NewDisposeScope();
        using var vae = Build(TwoLevels);
        using var scaled = new AutoencoderKL(TwoLevels with { ScalingFactor = 0.25 });
        scaled.load_state_dict(vae.state_dict());
        scaled.eval();
        using var noGrad = no_grad();
        var x = Images(2, 16);
        var posterior = vae.EncodeDistribution(x);
        Assert.True(vae.Encode(x).eq(posterior.Mean).all().item<bool>());
        var a = vae.Encode(x, new Generator(7, CPU));
        Assert.True(a.eq(vae.Encode(x, new Generator(7, CPU))).all().item<bool>());
        Assert.False(a.allclose(posterior.Mean));
        // z = mean + std·eps: the sample's deviation over std is the N(0, 1) draw the generator makes.
        var eps = randn(posterior.Mean.shape, generator: new Generator(7, CPU));
        Assert.True(((a - posterior.Mean) / (0.5 * posterior.LogVar).exp()).allclose(eps, rtol: 1e-4, atol: 1e-4));
        Assert.True(scaled.Encode(x).allclose(posterior.Mean * 0.25, rtol: 1e-6, atol: 1e-6));
        Assert.True(scaled.Decode(scaled.Encode(x)).allclose(vae.Decode(vae.Encode(x)), rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public void ImagesOfTheWrongSizeAndLatentsOfTheWrongChannelsAreOneErrorEach()
    {
        using var scope = NewDisposeScope();
        using var vae = Build(new AutoencoderKLOptions { BlockOutChannels = [16, 16, 16], NormGroups = 8, SampleSize = 16 });
        var size = Assert.Throws<DiffusionException>(() => vae.Encode(Images(1, 18)));
        Assert.Contains("18x18", size.Message);
        Assert.Contains("4", size.Message);
        var channels = Assert.Throws<DiffusionException>(() => vae.Encode(zeros(1, 1, 16, 16)));
        Assert.Contains("(B, 3, H, W)", channels.Message);
        var latents = Assert.Throws<DiffusionException>(() => vae.Decode(zeros(1, 3, 4, 4)));
        Assert.Contains("(B, 4, h, w)", latents.Message);
        Assert.Throws<DiffusionException>(() => new AutoencoderKL(new AutoencoderKLOptions { BlockOutChannels = [24, 32], NormGroups = 32 }));
    }

    [Fact]
    public void TheTrainingViewHasTheSameKeysAndTensors()
    {
        using var vae = Build(TwoLevels);
        using var view = vae.ForTraining();
        var a = vae.state_dict();
        var b = view.state_dict();
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var key in a.Keys) Assert.Equal(a[key].Handle, b[key].Handle);
    }
}
