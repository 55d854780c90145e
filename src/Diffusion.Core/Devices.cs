using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core;

/// <summary>Device selection: CUDA when a CUDA backend is referenced and a GPU is present, else CPU.</summary>
public static class Devices
{
    /// <summary>Resolves "auto", "cpu", "cuda" or "cuda:N".</summary>
    /// <exception cref="DiffusionException">CUDA was asked for but is not available, or the name is unknown.</exception>
    public static Device Resolve(string name = "auto")
    {
        switch (name.Trim().ToLowerInvariant())
        {
            case "auto": return cuda.is_available() ? CUDA : CPU;
            case "cpu": return CPU;
            case var s when s.StartsWith("cuda", StringComparison.Ordinal):
                if (!cuda.is_available())
                    throw new DiffusionException($"Device '{name}' was requested but CUDA is not available (reference TorchSharp-cuda-* and check the driver), or use --device cpu.");
                return device(s);
            default:
                throw new DiffusionException($"Unknown device '{name}'. Valid: auto, cpu, cuda, cuda:N.");
        }
    }

    /// <summary>A CPU generator seeded with <paramref name="seed"/>.</summary>
    public static Generator Generator(long seed) => new Generator((ulong)seed, CPU);
}
