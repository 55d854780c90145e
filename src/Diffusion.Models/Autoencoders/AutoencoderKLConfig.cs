using Diffusion.Core;
using Diffusion.Core.Components;

namespace Diffusion.Models;

/// <summary>
/// An <see cref="AutoencoderKL"/>'s <c>config.json</c> in diffusers' names (<c>autoencoder_kl.py</c>): <c>in_channels</c>,
/// <c>out_channels</c>, <c>down_block_types</c> (<c>DownEncoderBlock2D</c> per level), <c>up_block_types</c>
/// (<c>UpDecoderBlock2D</c>), <c>block_out_channels</c>, <c>layers_per_block</c>, <c>act_fn</c> (silu),
/// <c>latent_channels</c>, <c>norm_num_groups</c>, <c>sample_size</c>, <c>scaling_factor</c>, <c>shift_factor</c> (null),
/// <c>latents_mean</c> / <c>latents_std</c> (null), <c>force_upcast</c>, <c>use_quant_conv</c> and
/// <c>use_post_quant_conv</c> (true), <c>mid_block_add_attention</c>.
/// </summary>
public static class AutoencoderKLConfig
{
    /// <summary>The config file name inside the component folder.</summary>
    public const string FileName = "config.json";

    /// <summary>Writes <paramref name="options"/> into <paramref name="folder"/>.</summary>
    public static void Save(AutoencoderKLOptions options, string folder)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var json = ComponentConfig.New(AutoencoderKL.ClassName);
        json["in_channels"] = options.ImageChannels;
        json["out_channels"] = options.ImageChannels;
        json["down_block_types"] = Strings(options.BlockOutChannels.Select(_ => "DownEncoderBlock2D"));
        json["up_block_types"] = Strings(options.BlockOutChannels.Select(_ => "UpDecoderBlock2D"));
        json["block_out_channels"] = new System.Text.Json.Nodes.JsonArray(options.BlockOutChannels.Select(c => (System.Text.Json.Nodes.JsonNode?)c).ToArray());
        json["layers_per_block"] = options.LayersPerBlock;
        json["act_fn"] = "silu";
        json["latent_channels"] = options.LatentChannels;
        json["norm_num_groups"] = options.NormGroups;
        json["sample_size"] = options.SampleSize;
        json["scaling_factor"] = options.ScalingFactor;
        json["shift_factor"] = null;
        json["latents_mean"] = null;
        json["latents_std"] = null;
        json["force_upcast"] = true;
        json["use_quant_conv"] = true;
        json["use_post_quant_conv"] = true;
        json["mid_block_add_attention"] = options.MidBlockAttention;
        ComponentConfig.Write(json, Path.Combine(folder, FileName));
    }

    /// <summary>Reads the config in <paramref name="folder"/> strictly.</summary>
    /// <exception cref="DiffusionException">The config is missing, names another class, or has unsupported, inconsistent or unknown keys.</exception>
    public static AutoencoderKLOptions Load(string folder)
    {
        var c = ComponentConfig.Read(Path.Combine(folder, FileName), "autoencoder", AutoencoderKL.ClassName);
        var channels = c.IntArray("block_out_channels") ?? throw new DiffusionException($"{c.Source} lacks block_out_channels.");
        int inChannels = c.Int("in_channels") ?? 3;
        if ((c.Int("out_channels") ?? 3) != inChannels)
            throw new DiffusionException($"{c.Source}: out_channels must equal in_channels ({inChannels}) in this SDK's AutoencoderKL.");
        foreach (var (key, type) in new[] { ("down_block_types", "DownEncoderBlock2D"), ("up_block_types", "UpDecoderBlock2D") })
        {
            var types = c.StringArray(key);
            if (types is not null && (types.Length != channels.Length || types.Any(t => t != type)))
                throw new DiffusionException($"{c.Source}: {key} must be {channels.Length} x {type}, got [{string.Join(", ", types)}].");
        }
        c.Expect("act_fn", "silu");
        c.Expect("shift_factor", (object?)null);
        c.Expect("latents_mean", (object?)null);
        c.Expect("latents_std", (object?)null);
        c.Expect("use_quant_conv", true);
        c.Expect("use_post_quant_conv", true);
        c.Ignore("force_upcast");
        var options = new AutoencoderKLOptions
        {
            ImageChannels = inChannels,
            BlockOutChannels = channels,
            LayersPerBlock = c.Int("layers_per_block") ?? 1,
            LatentChannels = c.Int("latent_channels") ?? 4,
            NormGroups = c.Int("norm_num_groups") ?? 32,
            SampleSize = c.Int("sample_size") ?? 32,
            ScalingFactor = c.Double("scaling_factor") ?? 0.18215,
            MidBlockAttention = c.Bool("mid_block_add_attention") ?? true,
        };
        c.EnsureAllRead();
        try { options.Validate(); }
        catch (DiffusionException e) { throw new DiffusionException($"{c.Source}: {e.Message}", e); }
        return options;
    }

    private static System.Text.Json.Nodes.JsonArray Strings(IEnumerable<string> values)
        => new(values.Select(v => (System.Text.Json.Nodes.JsonNode?)v).ToArray());
}
