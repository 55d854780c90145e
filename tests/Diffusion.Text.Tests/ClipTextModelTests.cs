using System.Text.Json;
using Diffusion.Core;
using Diffusion.Text.Clip;
using Diffusion.Text.Encoders;
using Diffusion.Text.Tokenizers;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Diffusion.Text.Tests;

public sealed class ClipTextModelTests
{
    // A tiny CLIP: 21 tokens (the vocabulary of ClipTokenizerTests), 77 positions, width 16, 2 layers of 2 heads.
    private static readonly ClipTextConfig Tiny = new(VocabularySize: 21, HiddenSize: 16, IntermediateSize: 32, Layers: 2, Heads: 2);

    private static readonly string[] Vocab =
    [
        "a", "c", "t", "o", "d", "g", "a</w>", "t</w>", "g</w>", ",</w>", "!</w>",
        "ca", "cat</w>", "og</w>", "dog</w>", "<|startoftext|>", "<|endoftext|>", "s</w>", "at</w>", "Ã", "©</w>",
    ];

    private static ClipTokenizer Tokenizer(string dir)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "vocab.json"), JsonSerializer.Serialize(Vocab.Select((w, i) => (w, i)).ToDictionary(x => x.w, x => x.i)));
        File.WriteAllLines(Path.Combine(dir, "merges.txt"), ["#version: 0.2", "c a", "ca t</w>", "o g</w>", "d og</w>", "a t</w>"]);
        return ClipTokenizer.Load(dir);
    }

    /// <summary>Writes <paramref name="model"/> as openai/clip-vit-base-patch32 lays out its folder: a CLIPModel config.json with
    /// text_config and vision_config, and model.safetensors holding text_model.*, vision_model.*, the projections and logit_scale.</summary>
    private static void WriteHuggingFaceFolder(ClipTextModel model, string folder, Action<Dictionary<string, Tensor>>? edit = null)
    {
        Directory.CreateDirectory(folder);
        var c = model.Config;
        File.WriteAllText(Path.Combine(folder, "config.json"), $$"""
        {
          "architectures": ["CLIPModel"],
          "initializer_factor": 1.0,
          "logit_scale_init_value": 2.6592,
          "model_type": "clip",
          "projection_dim": 8,
          "text_config": {
            "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0, "eos_token_id": 2, "hidden_act": "quick_gelu",
            "hidden_size": {{c.HiddenSize}}, "initializer_range": 0.02, "intermediate_size": {{c.IntermediateSize}},
            "layer_norm_eps": 1e-05, "max_position_embeddings": {{c.MaxPositions}}, "model_type": "clip_text_model",
            "num_attention_heads": {{c.Heads}}, "num_hidden_layers": {{c.Layers}}, "pad_token_id": 1, "projection_dim": 8,
            "vocab_size": {{c.VocabularySize}}
          },
          "torch_dtype": "float32",
          "transformers_version": "4.21.3",
          "vision_config": { "hidden_size": 24, "image_size": 32, "patch_size": 16, "num_hidden_layers": 1, "model_type": "clip_vision_model" }
        }
        """);
        var tensors = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        tensors["text_model.embeddings.position_ids"] = arange(c.MaxPositions, dtype: ScalarType.Int64).unsqueeze(0);
        tensors["text_projection.weight"] = randn(8, c.HiddenSize);
        tensors["visual_projection.weight"] = randn(8, 24);
        tensors["vision_model.embeddings.class_embedding"] = randn(24);
        tensors["vision_model.embeddings.patch_embedding.weight"] = randn(24, 3, 16, 16);
        tensors["vision_model.post_layernorm.weight"] = ones(24);
        tensors["logit_scale"] = tensor(2.6592f);
        edit?.Invoke(tensors);
        Safetensors.SaveStateDict(Path.Combine(folder, "model.safetensors"), tensors);
    }

    private static ClipTextModel Random(long seed)
    {
        using var g = new Generator((ulong)seed);
        return new ClipTextModel(Tiny, g);
    }

    [Fact]
    public void KeysAreHuggingFacesNames()
    {
        using var model = Random(1);
        var keys = model.state_dict().Keys.ToHashSet();
        Assert.Contains("text_model.embeddings.token_embedding.weight", keys);
        Assert.Contains("text_model.embeddings.position_embedding.weight", keys);
        foreach (var part in new[] { "self_attn.q_proj.weight", "self_attn.k_proj.bias", "self_attn.v_proj.weight", "self_attn.out_proj.bias",
                     "layer_norm1.weight", "mlp.fc1.weight", "mlp.fc2.bias", "layer_norm2.bias" })
            Assert.Contains($"text_model.encoder.layers.1.{part}", keys);
        Assert.Contains("text_model.final_layer_norm.weight", keys);
        Assert.Equal(2 + 2 * 16 + 2, keys.Count); // 2 embeddings, 16 tensors per layer, the final LayerNorm
    }

    [Fact]
    public void LoadsAHuggingFaceFolderWithTheSameOutputs()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var tokenizer = Tokenizer(dir);
        using var model = Random(2);
        WriteHuggingFaceFolder(model, dir);
        using var loaded = ClipTextModel.Load(dir);
        Assert.Equal(Tiny, loaded.Config);
        Assert.False(loaded.Trainable);
        var tokens = tokenizer.Encode(["A cat, a dog!", "a dog", ""]);
        TextEncoding expected, actual;
        using (no_grad()) { expected = model.Encode(tokens.Ids, tokens.Mask); actual = loaded.Encode(tokens.Ids, tokens.Mask); }
        Assert.Equal([3L, 77, 16], actual.Hidden.shape);
        Assert.Equal([3L, 16], actual.Pooled.shape);
        Assert.True(expected.Hidden.allclose(actual.Hidden, rtol: 0, atol: 0));
        Assert.True(expected.Pooled.allclose(actual.Pooled, rtol: 0, atol: 0));
    }

    [Fact]
    public void PoolsAtTheEndOfTextTokenUnderACausalMask()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var tokenizer = Tokenizer(dir);
        using var model = Random(3);
        var tokens = tokenizer.Encode(["a dog", "a cat"]); // BOS a dog EOS pad…; BOS a cat EOS pad…
        var e = model.Encode(tokens.Ids, tokens.Mask);
        Assert.True(e.Pooled.select(0, 0).allclose(e.Hidden[0, 3], rtol: 0, atol: 0)); // position of EOS (the highest id)
        // Causal: positions before the first difference see the same prefix.
        Assert.True(e.Hidden[0, ..2].allclose(e.Hidden[1, ..2], rtol: 0, atol: 1e-6));
        Assert.False(e.Hidden[0, 2].allclose(e.Hidden[1, 2], rtol: 0, atol: 1e-6));
    }

    [Fact]
    public void FrozenClipConditionsWithoutGradients()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var tokenizer = Tokenizer(Path.Combine(dir, "tokenizer"));
        using (var model = Random(4)) WriteHuggingFaceFolder(model, Path.Combine(dir, "text_encoder"));
        using var clip = ClipTextModel.Load(dir); // finds text_encoder/ in a model folder
        var conditioner = new TextConditioner(ClipTokenizer.Load(dir), clip);
        var c = conditioner.Encode(["a cat", "a dog"], CPU);
        Assert.Equal([2L, 77, 16], c.Context!.shape);
        Assert.False(c.Context.requires_grad);
        Assert.Equal(3, c.ContextMask!.select(0, 0).sum().item<long>() - 1); // BOS a cat EOS: 4 real tokens
        var u = conditioner.Unconditional(c);
        Assert.True(u.Context![1].allclose(conditioner.Encode([""], CPU).Context![0], rtol: 0, atol: 0));
    }

    [Fact]
    public void MissingAndMisshapenTensorsAreNamedInOneError()
    {
        using var dir = new TempDir();
        using var model = Random(5);
        WriteHuggingFaceFolder(model, dir, t =>
        {
            t.Remove("text_model.encoder.layers.1.mlp.fc2.weight");
            t.Remove("text_model.final_layer_norm.bias");
            t["text_model.embeddings.token_embedding.weight"] = randn(20, 16);
        });
        var e = Assert.Throws<DiffusionException>(() => ClipTextModel.Load(dir));
        Assert.Contains("text_model.encoder.layers.1.mlp.fc2.weight", e.Message);
        Assert.Contains("text_model.final_layer_norm.bias", e.Message);
        Assert.Contains("text_model.embeddings.token_embedding.weight [20, 16] (expected [21, 16])", e.Message);
        Assert.DoesNotContain("vision_model", e.Message);
    }

    [Fact]
    public void MissingFilesAreNamed()
    {
        using var dir = new TempDir();
        Assert.Contains("config.json", Assert.Throws<DiffusionException>(() => ClipTextModel.Load(dir)).Message);
        using var model = Random(6);
        WriteHuggingFaceFolder(model, dir);
        File.Delete(dir.File("model.safetensors"));
        Assert.Contains(dir.File("model.safetensors"), Assert.Throws<DiffusionException>(() => ClipTextModel.Load(dir)).Message);
    }

    [Fact]
    public void SavesAsACLIPTextModelFolder()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        using var model = Random(7);
        model.Save(dir);
        using var back = ClipTextModel.Load(dir);
        using var ids = tensor(new long[] { 15, 6, 14, 16, 16 }).unsqueeze(0);
        using var mask = ones_like(ids, dtype: ScalarType.Bool);
        using (no_grad()) Assert.True(model.call(ids, mask).allclose(back.call(ids, mask), rtol: 0, atol: 0));
    }
}
