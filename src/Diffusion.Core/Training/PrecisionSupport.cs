using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Training;

/// <summary>
/// Which precision computes fast on this machine. bfloat16 pays off only with hardware support: CPUs with
/// AVX-512 BF16 or AMX (detected from /proc/cpuinfo on Linux) and CUDA GPUs; elsewhere libtorch runs bf16
/// convolutions and matrix products through slow reference kernels, so float32 is the faster choice.
/// </summary>
public static class PrecisionSupport
{
    private static readonly Lazy<bool> CpuBf16 = new(DetectCpuBFloat16);

    /// <summary>True when this CPU has bfloat16 dot-product instructions (AVX-512 BF16 or AMX-BF16).</summary>
    public static bool CpuHasFastBFloat16 => CpuBf16.Value;

    /// <summary>Resolves <see cref="Precision.Auto"/> for <paramref name="device"/> (the CPU when null);
    /// other values are returned unchanged.</summary>
    public static Precision Resolve(this Precision precision, Device? device = null)
    {
        if (precision != Precision.Auto) return precision;
        bool fast = device is not null && device.type == DeviceType.CUDA || CpuHasFastBFloat16;
        return fast ? Precision.BFloat16 : Precision.Float32;
    }

    /// <summary>True when <paramref name="flags"/> (a /proc/cpuinfo "flags" line or any whitespace-separated
    /// flag list) names a bfloat16 instruction set.</summary>
    public static bool FlagsHaveBFloat16(string flags)
        => flags.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)
            .Any(f => f is "avx512_bf16" or "amx_bf16");

    private static bool DetectCpuBFloat16()
    {
        try
        {
            if (!OperatingSystem.IsLinux() || !File.Exists("/proc/cpuinfo")) return false;
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal));
            return line is not null && FlagsHaveBFloat16(line);
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }
}
