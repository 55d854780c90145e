using Diffusion.Core.Data;

namespace Diffusion.Text.Tests;

/// <summary>Finds the shared datasets for tests.</summary>
internal static class TestPaths
{
    /// <summary>DIFFUSION_DATA when set, else a <c>shared/data</c> folder found by walking up from the test assembly; fails
    /// the test (never passes it silently) when there is none.</summary>
    public static string RequireSharedData()
    {
        string? env = Environment.GetEnvironmentVariable(DataDirectory.EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env) && Directory.Exists(env)) return Path.GetFullPath(env);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared", "data");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new Xunit.Sdk.XunitException($"The real datasets are missing: set {DataDirectory.EnvironmentVariable} to a folder holding mnist/ and flickr8k-1k/ (bash test.sh does).");
    }
}

/// <summary>Collects reported lines.</summary>
internal sealed class Lines : IProgress<string>
{
    public List<string> All { get; } = [];

    public void Report(string value) => All.Add(value);
}
