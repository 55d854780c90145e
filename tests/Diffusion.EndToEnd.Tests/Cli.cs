using System.Diagnostics;

namespace Diffusion.EndToEnd.Tests;

/// <summary>Runs the real `diffusion` executable in a child process, as a user would.</summary>
internal static class Cli
{
    public static string Dll
    {
        get
        {
#if DEBUG
            const string config = "Debug";
#else
            const string config = "Release";
#endif
            var root = RepoRoot();
            var path = Path.Combine(root, "samples", "Diffusion.Cli", "bin", config, "net10.0", "diffusion.dll");
            Assert.True(File.Exists(path), $"CLI not built at {path}");
            return path;
        }
    }

    public static string RepoRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "Diffusion.sln"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("Diffusion.sln not found above the test assembly.");
    }

    /// <summary>The datasets folder: $DIFFUSION_DATA, else ../shared/data beside the checkout.</summary>
    public static string DataDir()
    {
        var env = Environment.GetEnvironmentVariable("DIFFUSION_DATA");
        if (!string.IsNullOrEmpty(env)) return env;
        var shared = Path.Combine(RepoRoot(), "..", "shared", "data");
        Assert.True(Directory.Exists(shared), "Set DIFFUSION_DATA to the folder holding mnist/ (see README).");
        return Path.GetFullPath(shared);
    }

    public sealed record Result(int ExitCode, string StdOut, string StdErr);

    public static Result Run(string arguments, TimeSpan? timeout = null) => RunAsync(arguments, timeout, null).GetAwaiter().GetResult();

    /// <summary>Starts the CLI; <paramref name="onStarted"/> may kill it (crash tests).</summary>
    public static async Task<Result> RunAsync(string arguments, TimeSpan? timeout, Func<Process, Task>? onStarted)
    {
        var psi = new ProcessStartInfo("dotnet", $"\"{Dll}\" {arguments}")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.Environment["DIFFUSION_DATA"] = DataDir();
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (onStarted is not null) await onStarted(p);
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(30));
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { p.Kill(true); throw new TimeoutException($"diffusion {arguments} did not finish in time."); }
        return new Result(p.ExitCode, await stdout, await stderr);
    }

    public static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "diffusion-e2e-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(d);
        return d;
    }
}
