using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Components;

/// <summary>A component's weights in its folder, as diffusers names them: <c>diffusion_pytorch_model.safetensors</c>,
/// float32, loaded strictly (every missing or unexpected tensor and every shape mismatch named).</summary>
public static class ComponentWeights
{
    /// <summary>The weights file name inside a component folder.</summary>
    public const string FileName = "diffusion_pytorch_model.safetensors";

    /// <summary>Writes <paramref name="module"/>'s state dict into <paramref name="folder"/> as float32 (atomically).</summary>
    public static void Save(nn.Module module, string folder)
    {
        ArgumentNullException.ThrowIfNull(module);
        using var scope = NewDisposeScope();
        var tensors = module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.is_floating_point() ? kv.Value.to(ScalarType.Float32) : kv.Value);
        StateDicts.Save(tensors, Path.Combine(folder, FileName));
    }

    /// <summary>Copies the weights in <paramref name="folder"/> into <paramref name="module"/>, converting dtypes.</summary>
    /// <exception cref="DiffusionException">The file is missing or unreadable, or a name or shape does not match.</exception>
    public static void Load(nn.Module module, string folder) => StateDicts.LoadInto(module, Path.Combine(folder, FileName));
}
