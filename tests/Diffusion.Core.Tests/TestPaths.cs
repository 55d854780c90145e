using Diffusion.Core.Data;

namespace Diffusion.Core.Tests;

/// <summary>Finds the shared datasets and makes scratch directories for tests.</summary>
internal static class TestPaths
{
    /// <summary>
    /// The shared data directory: DIFFUSION_DATA when set (CI sets it), else a <c>shared/data</c> folder found by
    /// walking up from the test assembly (it lies next to the repository). Null when neither exists.
    /// </summary>
    public static string? SharedData()
    {
        string? env = Environment.GetEnvironmentVariable(DataDirectory.EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env) && Directory.Exists(env)) return Path.GetFullPath(env);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared", "data");
            if (Directory.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>A new empty directory under the system temp folder; delete it with <see cref="TempDir.Dispose"/>.</summary>
    public static TempDir NewTempDir() => new();
}

/// <summary>A scratch directory removed on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "diffusion-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}

/// <summary>Tests that read or change environment variables run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EnvironmentCollection
{
    public const string Name = "Environment";
}

/// <summary>Exact tensor comparison.</summary>
internal static class TensorAssert
{
    /// <summary>True when both tensors have the same shape and equal elements.</summary>
    public static bool Same(TorchSharp.torch.Tensor a, TorchSharp.torch.Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape)) return false;
        using var eq = a.eq(b);
        using var all = eq.all();
        return all.item<bool>();
    }
}
