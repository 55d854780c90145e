using Diffusion.Core;
using Diffusion.Core.Components;

namespace Diffusion.Models;

/// <summary>
/// A <see cref="UNet"/>'s <c>config.json</c> in diffusers' <c>UNet2DModel</c> names: <c>block_out_channels</c>,
/// <c>down_block_types</c> (<c>AttnDownBlock2D</c> where a level has attention), <c>add_attention</c> for the middle
/// block, <c>num_class_embeds</c> (the embedding's rows: the classes plus the null class that classifier-free guidance
/// uses), and the fixed choices this UNet makes (<c>act_fn</c> silu, positional time embedding with
/// <c>flip_sin_to_cos</c>, conv up- and downsampling). <c>time_embedding_dim</c> is this SDK's own key. What the
/// network predicts lives in the scheduler config, as in diffusers.
/// </summary>
/// <remarks>
/// A cross-attention model (<see cref="UNetOptions.CrossAttentionDim"/>) adds the keys and block names of diffusers'
/// <c>UNet2DConditionModel</c>: <c>cross_attention_dim</c>, <c>CrossAttnDownBlock2D</c> / <c>CrossAttnUpBlock2D</c> at the
/// levels that read the context, <c>mid_block_type</c> (<c>UNetMidBlock2DCrossAttn</c>), <c>transformer_layers_per_block</c>,
/// <c>use_linear_projection</c> (false: 1×1 convolutions) and <c>only_cross_attention</c> (false). It keeps this SDK's
/// <c>_class_name</c> and its meaning of <c>attention_head_dim</c> (channels per head; diffusers'
/// <c>UNet2DConditionModel</c> reads that key as the number of heads), so diffusers cannot load the file as it is.
/// Models without cross-attention write none of these keys.
/// </remarks>
public static class UNetConfig
{
    /// <summary>The <c>_class_name</c> of the UNet component.</summary>
    public const string ClassName = "UNet2DModel";

    /// <summary>The config file name inside the component folder.</summary>
    public const string FileName = "config.json";

    /// <summary>Writes <paramref name="options"/> (all but <see cref="UNetOptions.Prediction"/>) into <paramref name="folder"/>.</summary>
    public static void Save(UNetOptions options, string folder)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var o = options;
        var json = ComponentConfig.New(ClassName);
        json["sample_size"] = o.SampleSize;
        json["in_channels"] = o.InChannels;
        json["out_channels"] = o.OutChannels;
        json["block_out_channels"] = Array(Enumerable.Range(0, o.Levels).Select(o.ChannelsAt));
        json["layers_per_block"] = o.LayersPerBlock;
        json["down_block_types"] = Array(Enumerable.Range(0, o.Levels).Select(l => BlockType(o, l, "Down")));
        json["up_block_types"] = Array(Enumerable.Range(0, o.Levels).Reverse().Select(l => BlockType(o, l, "Up")));
        json["add_attention"] = o.MidAttention;
        if (o.CrossAttentionDim is int contextDim)
        {
            json["cross_attention_dim"] = contextDim;
            json["mid_block_type"] = o.MidAttention ? CrossMidBlock : PlainMidBlock;
            json["transformer_layers_per_block"] = o.ResolvedTransformerLayersPerBlock;
            json["use_linear_projection"] = false;
            json["only_cross_attention"] = false;
        }
        json["attention_head_dim"] = o.AttentionHeadDim;
        json["norm_num_groups"] = o.GroupNormGroups;
        json["norm_eps"] = 1e-5;
        json["num_class_embeds"] = o.NumClasses is int k ? k + 1 : null;
        json["class_embed_type"] = null;
        json["dropout"] = o.Dropout;
        json["time_embedding_dim"] = o.TimeEmbeddingDim;
        json["time_embedding_type"] = "positional";
        json["flip_sin_to_cos"] = true;
        json["freq_shift"] = 0;
        json["act_fn"] = "silu";
        json["resnet_time_scale_shift"] = "default";
        json["center_input_sample"] = false;
        json["downsample_type"] = "conv";
        json["upsample_type"] = "conv";
        json["downsample_padding"] = 1;
        json["mid_block_scale_factor"] = 1;
        ComponentConfig.Write(json, Path.Combine(folder, FileName));
    }

    /// <summary>Reads the UNet config in <paramref name="folder"/> strictly.</summary>
    /// <param name="folder">The component folder (e.g. <c>model/unet</c>).</param>
    /// <param name="prediction">What the network predicts (from the scheduler config).</param>
    /// <exception cref="DiffusionException">The config is missing, names another class, or has unsupported, inconsistent or unknown keys.</exception>
    public static UNetOptions Load(string folder, Prediction prediction)
    {
        var c = ComponentConfig.Read(Path.Combine(folder, FileName), "UNet", ClassName);
        var channels = c.IntArray("block_out_channels") ?? throw new DiffusionException($"{c.Source} lacks block_out_channels.");
        if (channels.Length == 0 || channels[0] < 1 || channels.Any(ch => ch % channels[0] != 0))
            throw new DiffusionException($"{c.Source}: block_out_channels [{string.Join(", ", channels)}] must be positive multiples of the first level's channels.");
        var down = c.StringArray("down_block_types") ?? throw new DiffusionException($"{c.Source} lacks down_block_types.");
        var up = c.StringArray("up_block_types") ?? throw new DiffusionException($"{c.Source} lacks up_block_types.");
        if (down.Length != channels.Length || up.Length != channels.Length)
            throw new DiffusionException($"{c.Source}: down_block_types and up_block_types need one entry per level of block_out_channels ({channels.Length}).");
        var attention = new List<int>();
        var cross = new List<int>();
        for (int level = 0; level < down.Length; level++)
        {
            var kindDown = AttentionOf(down[level], "Down", c.Source);
            var kindUp = AttentionOf(up[down.Length - 1 - level], "Up", c.Source);
            if (kindDown != kindUp)
                throw new DiffusionException($"{c.Source}: level {level} has different attention on the two paths ({down[level]} / {up[down.Length - 1 - level]}); this UNet uses the same on both.");
            if (kindDown != Attention.None) attention.Add(level);
            if (kindDown == Attention.Cross) cross.Add(level);
        }
        int? contextDim = c.Int("cross_attention_dim");
        bool midAttention = c.Bool("add_attention") ?? true;
        if (cross.Count > 0 && contextDim is null)
            throw new DiffusionException($"{c.Source}: the block types use cross-attention ({string.Join(", ", down.Where(d => d.StartsWith("CrossAttn", StringComparison.Ordinal)).Distinct())}) but cross_attention_dim is missing.");
        switch (c.String("mid_block_type"))
        {
            case null: break;
            case CrossMidBlock when contextDim is not null && midAttention: break;
            case PlainMidBlock when contextDim is null || !midAttention: break;
            case var type:
                throw new DiffusionException(
                    $"{c.Source}: mid_block_type {type} does not fit cross_attention_dim = {contextDim?.ToString() ?? "null"} and add_attention = {midAttention} " +
                    $"(this UNet's middle block is {CrossMidBlock} when the model has cross-attention and a middle attention, else {PlainMidBlock}).");
        }
        int? transformerLayers = c.Int("transformer_layers_per_block");
        if (contextDim is null && transformerLayers is not (null or 1))
            throw new DiffusionException($"{c.Source}: transformer_layers_per_block = {transformerLayers} needs cross_attention_dim (a model without cross-attention has no transformer layers).");
        int? classEmbeds = c.Int("num_class_embeds");
        if (classEmbeds is < 2)
            throw new DiffusionException($"{c.Source}: num_class_embeds must be at least 2 (the classes plus the null class), got {classEmbeds}.");
        var defaults = new UNetOptions();
        var options = new UNetOptions
        {
            SampleSize = c.Int("sample_size") ?? throw new DiffusionException($"{c.Source} lacks sample_size."),
            InChannels = c.Int("in_channels") ?? 3,
            OutChannels = c.Int("out_channels") ?? 3,
            BaseChannels = channels[0],
            ChannelMultipliers = channels.Select(ch => ch / channels[0]).ToArray(),
            LayersPerBlock = c.Int("layers_per_block") ?? 2,
            AttentionLevels = attention.ToArray(),
            MidAttention = midAttention,
            AttentionHeadDim = c.Int("attention_head_dim") ?? defaults.AttentionHeadDim,
            GroupNormGroups = c.Int("norm_num_groups") ?? 32,
            NumClasses = classEmbeds - 1,
            Dropout = c.Double("dropout") ?? 0,
            TimeEmbeddingDim = c.Int("time_embedding_dim"),
            CrossAttentionDim = contextDim,
            // Null when every attention level reads the context, so options saved with the default load back equal.
            CrossAttentionLevels = contextDim is null || cross.SequenceEqual(attention) ? null : cross.ToArray(),
            TransformerLayersPerBlock = contextDim is null || transformerLayers is null or 1 ? null : transformerLayers,
            Prediction = prediction,
        };
        c.Expect("norm_eps", 1e-5);
        c.Expect("class_embed_type", (object?)null);
        c.Expect("time_embedding_type", "positional");
        c.Expect("flip_sin_to_cos", true);
        c.Expect("freq_shift", 0);
        c.Expect("act_fn", "silu");
        c.Expect("resnet_time_scale_shift", "default");
        c.Expect("center_input_sample", false);
        c.Expect("downsample_type", "conv");
        c.Expect("upsample_type", "conv");
        c.Expect("downsample_padding", 1);
        c.Expect("mid_block_scale_factor", 1);
        c.Expect("attention_legacy_order", false);
        c.Expect("attn_norm_num_groups", (object?)null);
        c.Expect("use_linear_projection", false);
        c.Expect("only_cross_attention", false);
        c.Ignore("num_train_timesteps");
        c.EnsureAllRead();
        options.Validate();
        return options;
    }

    private const string CrossMidBlock = "UNetMidBlock2DCrossAttn";
    private const string PlainMidBlock = "UNetMidBlock2D";

    private enum Attention { None, Self, Cross }

    private static string BlockType(UNetOptions o, int level, string direction)
        => o.ResolvedCrossAttentionLevels.Contains(level) ? $"CrossAttn{direction}Block2D"
            : o.AttentionLevels.Contains(level) ? $"Attn{direction}Block2D"
            : $"{direction}Block2D";

    private static Attention AttentionOf(string type, string direction, string source) => type switch
    {
        _ when type == $"{direction}Block2D" => Attention.None,
        _ when type == $"Attn{direction}Block2D" => Attention.Self,
        _ when type == $"CrossAttn{direction}Block2D" => Attention.Cross,
        _ => throw new DiffusionException($"{source}: block type '{type}' is not supported (supported: {direction}Block2D, Attn{direction}Block2D, CrossAttn{direction}Block2D)."),
    };

    private static System.Text.Json.Nodes.JsonArray Array<T>(IEnumerable<T> values)
        => new(values.Select(v => (System.Text.Json.Nodes.JsonNode?)System.Text.Json.Nodes.JsonValue.Create(v)).ToArray());
}
