using Diffusion.Core;
using Diffusion.Text.Encoders;
using TorchSharp;
using TorchSharp.PyBridge;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Text.Clip;

/// <summary>
/// CLIP's text transformer (Radford et al. 2021) in TorchSharp, laid out as Hugging Face's <c>CLIPTextModel</c> so its
/// weights load by name: <c>text_model.embeddings.{token,position}_embedding</c>,
/// <c>text_model.encoder.layers.N.{self_attn.{q,k,v,out}_proj, layer_norm1, mlp.fc1, mlp.fc2, layer_norm2}</c>,
/// <c>text_model.final_layer_norm</c>. Causal self-attention, quick-GELU MLPs; the pooled output is the final state at
/// the end-of-text token (the position of the highest id, as CLIP pools).
/// </summary>
/// <remarks>Loaded models are frozen (no gradients, evaluation mode): a pretrained text encoder conditions the diffusion
/// model without training. The projection into CLIP's joint space (<c>text_projection</c>) is not part of this model.</remarks>
public sealed class ClipTextModel : nn.Module<Tensor, Tensor, Tensor>, ITextEncoder
{
    /// <summary>The weights file of a Hugging Face model folder.</summary>
    public const string WeightsFile = "model.safetensors";

    /// <summary>The prefix of the text tower's tensors in that file.</summary>
    public const string Prefix = "text_model.";

    // A non-persistent buffer in current transformers, but older checkpoints (and conversions of them) store it.
    private const string PositionIds = "text_model.embeddings.position_ids";

    [ComponentName(Name = "text_model")]
    private readonly TextTransformer _textModel;

    /// <summary>A text tower of shape <paramref name="config"/> with freshly drawn weights (trainable until <see cref="Freeze"/>).</summary>
    /// <param name="config">The shape.</param>
    /// <param name="generator">Draws the initial weights; null uses the global generator.</param>
    public ClipTextModel(ClipTextConfig config, Generator? generator = null) : base(nameof(ClipTextModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        _textModel = new TextTransformer(config.ToOptions(), generator);
        RegisterComponents();
    }

    /// <summary>The shape of this tower.</summary>
    public ClipTextConfig Config { get; }

    /// <inheritdoc />
    public int HiddenSize => Config.HiddenSize;

    /// <inheritdoc />
    public int MaxLength => Config.MaxPositions;

    /// <inheritdoc />
    public bool Trainable => _textModel.Trainable;

    /// <summary>Stops gradients to every parameter and switches to evaluation mode.</summary>
    public void Freeze() => _textModel.Freeze();

    /// <summary>The final hidden states (B, L, D) of token ids int64 (B, L); the mask is not needed under causal attention
    /// (real tokens precede the padding) and only its shape is checked.</summary>
    public override Tensor forward(Tensor ids, Tensor mask) => _textModel.call(ids, mask);

    /// <inheritdoc />
    public TextEncoding Encode(Tensor ids, Tensor mask) => _textModel.Encode(ids, mask);

    /// <summary>
    /// Loads the text tower of a Hugging Face CLIP folder: <c>config.json</c> (a <c>CLIPModel</c> config with
    /// <c>text_config</c>, or a <c>CLIPTextModel</c> config) and <c>model.safetensors</c>, from <paramref name="folder"/> or
    /// its <c>text_encoder/</c> sub-folder. Only <c>text_model.*</c> tensors are read; vision tensors, projections and
    /// <c>logit_scale</c> are ignored. Weights are converted to float32. The model comes back frozen.
    /// </summary>
    /// <param name="folder">The model folder.</param>
    /// <param name="device">Where to put the model; null for the CPU.</param>
    /// <exception cref="DiffusionException">A file is missing or unreadable, or tensors are missing, unexpected or of the
    /// wrong shape (one message naming all of them).</exception>
    public static ClipTextModel Load(string folder, Device? device = null)
    {
        string dir = File.Exists(Path.Combine(folder, ClipTextConfig.FileName)) ? folder : Path.Combine(folder, "text_encoder");
        if (!File.Exists(Path.Combine(dir, ClipTextConfig.FileName)))
            throw new DiffusionException($"No CLIP model in '{folder}': expected {ClipTextConfig.FileName} and {WeightsFile} there or in its text_encoder/ sub-folder.");
        var config = ClipTextConfig.Read(Path.Combine(dir, ClipTextConfig.FileName));
        string weights = Path.Combine(dir, WeightsFile);
        var found = SafetensorsHeader.Shapes(weights).Where(kv => kv.Key.StartsWith(Prefix, StringComparison.Ordinal) && kv.Key != PositionIds)
            .ToDictionary(kv => kv.Key, kv => kv.Value);
        var model = new ClipTextModel(config);
        try
        {
            var targets = model.state_dict();
            CheckTensors(found, targets.ToDictionary(kv => kv.Key, kv => kv.Value.shape), weights, config);
            var loaded = Safetensors.LoadStateDict(weights, keysToKeep: targets.Keys.ToList());
            try
            {
                using var noGrad = no_grad();
                foreach (var (name, target) in targets) target.copy_(loaded[name]);
            }
            finally { foreach (var t in loaded.Values) t.Dispose(); }
            model.Freeze();
            if (device is not null) model.to(device);
            return model;
        }
        catch (Exception e) when (e is not DiffusionException)
        {
            model.Dispose();
            throw new DiffusionException($"'{weights}' could not be read: {e.Message}", e);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Writes this tower as a <c>CLIPTextModel</c> folder: <c>config.json</c> and <c>model.safetensors</c> (float32).</summary>
    public void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        Config.Write(Path.Combine(folder, ClipTextConfig.FileName));
        StateDicts.Save(state_dict(), Path.Combine(folder, WeightsFile));
    }

    private static void CheckTensors(Dictionary<string, long[]> found, Dictionary<string, long[]> expected, string path, ClipTextConfig config)
    {
        static string List(IReadOnlyList<string> names) => string.Join(", ", names.Take(8)) + (names.Count > 8 ? $" and {names.Count - 8} more" : "");
        var missing = expected.Keys.Where(k => !found.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var unexpected = found.Keys.Where(k => !expected.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var mismatched = expected.Where(kv => found.TryGetValue(kv.Key, out var s) && !s.SequenceEqual(kv.Value)).OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => $"{kv.Key} [{string.Join(", ", found[kv.Key])}] (expected [{string.Join(", ", kv.Value)}])").ToList();
        if (missing.Count == 0 && unexpected.Count == 0 && mismatched.Count == 0) return;
        var parts = new List<string>();
        if (missing.Count > 0) parts.Add($"missing {List(missing)}");
        if (mismatched.Count > 0) parts.Add($"wrong shape {List(mismatched)}");
        if (unexpected.Count > 0) parts.Add($"unexpected {List(unexpected)}");
        throw new DiffusionException($"'{path}' does not match the text tower its config.json describes ({config}): {string.Join("; ", parts)}.");
    }
}
