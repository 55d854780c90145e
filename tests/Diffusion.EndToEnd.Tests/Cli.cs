using System.Diagnostics;

namespace Diffusion.EndToEnd.Tests;

/// <summary>Runs the real `diffusion` executable in a child process, as a user would.</summary>
internal static class Cli
{
#if DEBUG
    private const string Config = "Debug";
#else
    private const string Config = "Release";
#endif

    public static string Dll => Built(Path.Combine("samples", "Diffusion.Cli"), "diffusion.dll");

    /// <summary>The built console benchmark benchmarks/<paramref name="project"/>.</summary>
    public static string Benchmark(string project) => Built(Path.Combine("benchmarks", project), project + ".dll");

    /// <summary>The built sample program samples/<paramref name="project"/>.</summary>
    public static string Sample(string project) => Built(Path.Combine("samples", project), project + ".dll");

    private static string Built(string projectDir, string dll)
    {
        var path = Path.Combine(RepoRoot(), projectDir, "bin", Config, "net10.0", dll);
        Assert.True(File.Exists(path), $"not built: {path}");
        return path;
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

    /// <summary>Bad input as the CLI must report it: exit code 2, one line on stderr starting with "error: " and holding
    /// <paramref name="expected"/>, no stack trace anywhere.</summary>
    public static void AssertOneLineError(Result r, string expected)
    {
        Assert.True(r.ExitCode == 2, $"exit code {r.ExitCode}: {r.StdErr}{r.StdOut}");
        var lines = r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, "expected one line on stderr, got:\n" + r.StdErr);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("   at ", r.StdErr + r.StdOut);
    }

    public static Result Run(string arguments, TimeSpan? timeout = null) => RunAsync(arguments, timeout, null).GetAwaiter().GetResult();

    /// <summary>Runs another built program of the repository (a console benchmark) the same way.</summary>
    public static Result RunDll(string dll, string arguments, TimeSpan? timeout = null) => RunAsync(arguments, timeout, null, dll).GetAwaiter().GetResult();

    /// <summary>Starts the CLI (or <paramref name="dll"/>); <paramref name="onStarted"/> may kill it (crash tests).</summary>
    public static Task<Result> RunAsync(string arguments, TimeSpan? timeout, Func<Process, Task>? onStarted, string? dll = null, string? workingDirectory = null)
        => RunProcessAsync("dotnet", $"\"{dll ?? Dll}\" {arguments}", workingDirectory, timeout, onStarted);

    /// <summary>Runs any program (dotnet pack, an installed tool, ...) with DIFFUSION_DATA set and its output captured;
    /// <paramref name="environment"/> adds variables (a null value removes one).</summary>
    public static async Task<Result> RunProcessAsync(string fileName, string arguments, string? workingDirectory = null, TimeSpan? timeout = null,
        Func<Process, Task>? onStarted = null, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var psi = new ProcessStartInfo(fileName, arguments)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "",
        };
        psi.Environment["DIFFUSION_DATA"] = DataDir();
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null) psi.Environment.Remove(name);
            else psi.Environment[name] = value;
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (onStarted is not null) await onStarted(p);
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(30));
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { p.Kill(true); throw new TimeoutException($"{fileName} {arguments} did not finish in time."); }
        return new Result(p.ExitCode, await stdout, await stderr);
    }
}
