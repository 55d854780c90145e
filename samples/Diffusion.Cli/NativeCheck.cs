using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using TorchSharp;

namespace Diffusion.Cli;

/// <summary>
/// Loads TorchSharp's native library before TorchSharp does, so that a library that is there but cannot load (on Debian 12
/// or Ubuntu 22.04: libstdc++ lacks GLIBCXX_3.4.32) gives one line instead of TorchSharp's 100-line trace, an unhandled
/// TypeInitializationException and a 480 MB copy of libtorch into bin/…/cpu.
/// </summary>
internal static partial class NativeCheck
{
    /// <summary>Null when TorchSharp's native library loads (or is not there for this check to judge); otherwise why it does not, in a few words.</summary>
    public static string? LoadError()
    {
        var torchSharp = typeof(torch).Assembly;
        // The same lookup as TorchSharp's own first step (deps.json's native folders next to the app); on success the library
        // stays loaded, so this costs nothing over TorchSharp loading it a moment later.
        if (NativeLibrary.TryLoad("LibTorchSharp", torchSharp, null, out _)) return null;
        if (!OperatingSystem.IsLinux()) return null;
        var dir = Path.GetDirectoryName(torchSharp.Location) is { Length: > 0 } d ? d : AppContext.BaseDirectory;
        // TorchSharp's fallback loads a copy it consolidated into cpu/ earlier; if that one loads, TorchSharp will use it.
        var consolidated = Path.Combine(dir, "cpu", "libLibTorchSharp.so");
        if (File.Exists(consolidated) && NativeLibrary.TryLoad(consolidated, out _)) return null;
        // A build output keeps it under runtimes/linux-x64/native; an installed .NET tool (a RID-specific package) next to the app.
        var path = new[] { Path.Combine(dir, "runtimes", "linux-x64", "native", "libLibTorchSharp.so"), Path.Combine(dir, "libLibTorchSharp.so"), consolidated }
            .FirstOrDefault(File.Exists);
        if (path is null) return null; // Not next to the app: left to TorchSharp, which looks in the NuGet package folder.
        try
        {
            NativeLibrary.Load(path);
            return null;
        }
        catch (DllNotFoundException e)
        {
            return Reason(e.Message);
        }
    }

    /// <summary>The dynamic loader's complaint, shortened: "GLIBCXX_3.4.32 not found" for a missing symbol version.</summary>
    internal static string Reason(string message)
    {
        if (MissingVersion().Match(message) is { Success: true } m) return $"{m.Groups[1].Value} not found";
        // Otherwise the loader's own last line (dlerror), without the paths of the library that required it.
        var line = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? message;
        line = RequiredBy().Replace(line, "");
        return line.Length <= 160 ? line : line[..157] + "...";
    }

    [GeneratedRegex(@"version [`']([^`']+)' not found")]
    private static partial Regex MissingVersion();

    [GeneratedRegex(@"\s*\(required by [^)]*\)")]
    private static partial Regex RequiredBy();
}
