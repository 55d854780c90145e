using Diffusion.Core.Data;

namespace Diffusion.Core.Tests;

/// <summary>Finds the shared datasets for tests.</summary>
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

    /// <summary>The shared data directory; fails the test (never passes it silently) when there is none, saying what to set.</summary>
    public static string RequireSharedData()
        => SharedData() ?? throw new Xunit.Sdk.XunitException(
            $"The real datasets are missing: set {DataDirectory.EnvironmentVariable} to a folder holding mnist/, fashion-mnist/, cifar10-jpeg/ (bash test.sh does).");
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
