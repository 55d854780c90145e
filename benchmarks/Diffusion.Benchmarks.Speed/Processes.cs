using System.Diagnostics;
using System.Text.Json.Nodes;
using Diffusion.Core;
using Diffusion.Core.Memory;

namespace Diffusion.Benchmarks.Speed;

/// <summary>Starts one measurement as a child process with the allocator set as asked, and reads its JSON line.</summary>
internal static class Processes
{
    public static JsonObject Dotnet(IEnumerable<string> args, string allocator)
        => Start("dotnet", [typeof(Processes).Assembly.Location, "child", .. args], allocator, python: false);

    public static JsonObject Python(string python, string script, IEnumerable<string> args, string allocator)
        => Start(python, [script, .. args], allocator, python: true);

    private static JsonObject Start(string file, IEnumerable<string> args, string allocator, bool python)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment.Remove("MALLOC_MMAP_THRESHOLD_");
        psi.Environment.Remove("MALLOC_TRIM_THRESHOLD_");
        psi.Environment.Remove(AllocatorTuning.EnvironmentVariable);
        psi.Environment["BENCH_THREADS"] = Environment.ProcessorCount.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (allocator == "default")
            psi.Environment[AllocatorTuning.EnvironmentVariable] = "default";
        else if (python)
        {
            // PyTorch's process gets the same tuning through glibc's environment variables (the SDK does it in-process).
            psi.Environment["MALLOC_MMAP_THRESHOLD_"] = AllocatorTuning.MmapThresholdBytes.ToString(System.Globalization.CultureInfo.InvariantCulture);
            psi.Environment["MALLOC_TRIM_THRESHOLD_"] = AllocatorTuning.TrimThresholdBytes.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        var line = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault(l => l.TrimStart().StartsWith('{'));
        if (p.ExitCode != 0 || line is null)
            throw new DiffusionException($"{Path.GetFileName(file)} {string.Join(' ', psi.ArgumentList.Skip(1))} failed (exit {p.ExitCode}): {stderr.Result.Trim().Split('\n').LastOrDefault()}");
        return JsonNode.Parse(line)!.AsObject();
    }
}
