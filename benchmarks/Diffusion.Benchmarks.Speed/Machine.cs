using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Diffusion.Core.Training;

namespace Diffusion.Benchmarks.Speed;

/// <summary>What the figures were measured on.</summary>
internal static class Machine
{
    public static JsonObject Describe()
    {
        string? model = null, flags = null;
        if (File.Exists("/proc/cpuinfo"))
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                if (model is null && line.StartsWith("model name", StringComparison.Ordinal)) model = line[(line.IndexOf(':') + 1)..].Trim();
                if (flags is null && line.StartsWith("flags", StringComparison.Ordinal)) flags = line;
            }
        var f = flags?.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];
        return new JsonObject
        {
            ["cpu"] = model,
            ["cores"] = Environment.ProcessorCount,
            ["avx512f"] = f.Contains("avx512f"),
            ["avx512_bf16"] = f.Contains("avx512_bf16"),
            ["amx_bf16"] = f.Contains("amx_bf16"),
            ["fastBFloat16"] = PrecisionSupport.CpuHasFastBFloat16,
            ["os"] = RuntimeInformation.OSDescription,
            ["dotnet"] = RuntimeInformation.FrameworkDescription,
            ["memoryGiB"] = Math.Round(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 1073741824.0, 1),
        };
    }
}
