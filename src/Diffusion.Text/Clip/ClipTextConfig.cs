using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Diffusion.Core;
using Diffusion.Text.Encoders;

namespace Diffusion.Text.Clip;

/// <summary>
/// The text tower's settings in a Hugging Face CLIP <c>config.json</c>: the <c>text_config</c> object of a full
/// <c>CLIPModel</c> (e.g. <c>openai/clip-vit-base-patch32</c>), or the top level of a <c>CLIPTextModel</c> config (a
/// Stable Diffusion <c>text_encoder/</c>). Absent keys take <c>CLIPTextConfig</c>'s defaults, which are ViT-B/32's.
/// </summary>
/// <param name="VocabularySize"><c>vocab_size</c>, default 49408.</param>
/// <param name="HiddenSize"><c>hidden_size</c>, default 512.</param>
/// <param name="IntermediateSize"><c>intermediate_size</c>, default 2048.</param>
/// <param name="Layers"><c>num_hidden_layers</c>, default 12.</param>
/// <param name="Heads"><c>num_attention_heads</c>, default 8.</param>
/// <param name="MaxPositions"><c>max_position_embeddings</c>, default 77.</param>
/// <param name="Activation"><c>hidden_act</c>: <c>quick_gelu</c> (default) or <c>gelu</c>.</param>
/// <param name="LayerNormEpsilon"><c>layer_norm_eps</c>, default 1e-5.</param>
public sealed record ClipTextConfig(
    int VocabularySize = 49408, int HiddenSize = 512, int IntermediateSize = 2048, int Layers = 12, int Heads = 8,
    int MaxPositions = 77, TextActivation Activation = TextActivation.QuickGelu, double LayerNormEpsilon = 1e-5)
{
    /// <summary>The config file name.</summary>
    public const string FileName = "config.json";

    /// <summary>The transformer options of this tower: causal attention, pooling at the highest token id.</summary>
    public TextTransformerOptions ToOptions() => new()
    {
        VocabularySize = VocabularySize, MaxLength = MaxPositions, HiddenSize = HiddenSize, Layers = Layers, Heads = Heads,
        IntermediateSize = IntermediateSize, Activation = Activation, Causal = true, Pooling = TextPooling.HighestId,
        LayerNormEpsilon = LayerNormEpsilon,
    };

    /// <summary>Reads the text settings of <paramref name="path"/>; the vision settings and the many generic keys
    /// of Hugging Face configs are ignored.</summary>
    /// <exception cref="DiffusionException">The file is missing, not JSON, or a value has the wrong type or is unsupported.</exception>
    public static ClipTextConfig Read(string path)
    {
        if (!File.Exists(path)) throw new DiffusionException($"Missing CLIP config file '{path}'.");
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new DiffusionException($"'{path}' is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new DiffusionException($"'{path}' is not valid JSON: {e.Message}", e);
        }
        var text = root["text_config"] as JsonObject ?? root;
        string where = ReferenceEquals(text, root) ? $"'{path}'" : $"'{path}' text_config";
        var d = new ClipTextConfig();
        var config = new ClipTextConfig(
            Int(text, "vocab_size", d.VocabularySize, where), Int(text, "hidden_size", d.HiddenSize, where),
            Int(text, "intermediate_size", d.IntermediateSize, where), Int(text, "num_hidden_layers", d.Layers, where),
            Int(text, "num_attention_heads", d.Heads, where), Int(text, "max_position_embeddings", d.MaxPositions, where),
            TextTransformer.ParseActivation(text["hidden_act"]?.GetValue<string>(), where),
            text["layer_norm_eps"] is JsonNode eps ? eps.GetValue<double>() : d.LayerNormEpsilon);
        try { config.ToOptions().Validate(); }
        catch (ArgumentOutOfRangeException e) { throw new DiffusionException($"{where}: {e.Message}", e); }
        return config;
    }

    /// <summary>Writes this config as a <c>CLIPTextModel</c> <c>config.json</c> (top-level keys, <c>model_type</c> clip_text_model).</summary>
    public void Write(string path)
    {
        var json = new JsonObject
        {
            ["architectures"] = new JsonArray("CLIPTextModel"),
            ["model_type"] = "clip_text_model",
            ["vocab_size"] = VocabularySize,
            ["hidden_size"] = HiddenSize,
            ["intermediate_size"] = IntermediateSize,
            ["num_hidden_layers"] = Layers,
            ["num_attention_heads"] = Heads,
            ["max_position_embeddings"] = MaxPositions,
            ["hidden_act"] = Activation == TextActivation.QuickGelu ? "quick_gelu" : "gelu",
            ["layer_norm_eps"] = LayerNormEpsilon,
        };
        Core.AtomicFile.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    private static int Int(JsonObject o, string key, int fallback, string where)
    {
        if (o[key] is not JsonNode n) return fallback;
        if (n is JsonValue v && v.TryGetValue(out int i)) return i;
        throw new DiffusionException($"{where}: {key} = {n.ToJsonString()} is not an integer.");
    }

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"CLIP text tower: {Layers} layers of width {HiddenSize} ({Heads} heads, MLP {IntermediateSize}), {MaxPositions} positions, {VocabularySize} tokens");
}
