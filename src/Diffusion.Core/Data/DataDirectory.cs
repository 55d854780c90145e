namespace Diffusion.Core.Data;

/// <summary>
/// Where datasets live. The first of these that is set wins:
/// <list type="number">
/// <item>the directory the caller passes (the CLI's <c>--data-dir</c>);</item>
/// <item>the environment variable <c>DIFFUSION_DATA</c>;</item>
/// <item><c>./data</c> under the current working directory.</item>
/// </list>
/// Each dataset then sits in a sub-folder named after it (<c>mnist/</c>, <c>fashion-mnist/</c>, <c>cifar10/</c>, …).
/// </summary>
public static class DataDirectory
{
    /// <summary>The environment variable naming the data directory: <c>DIFFUSION_DATA</c>.</summary>
    public const string EnvironmentVariable = "DIFFUSION_DATA";

    /// <summary>The fallback directory name, relative to the working directory: <c>data</c>.</summary>
    public const string DefaultDirectory = "data";

    /// <summary>Resolves the data directory to an absolute path (which need not exist yet).</summary>
    /// <param name="explicitDir">A directory given by the caller, or null/blank to fall back to the
    /// environment variable and then <c>./data</c>.</param>
    public static string Resolve(string? explicitDir)
    {
        if (!string.IsNullOrWhiteSpace(explicitDir)) return Path.GetFullPath(explicitDir);
        string? env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env)) return Path.GetFullPath(env);
        return Path.GetFullPath(DefaultDirectory);
    }
}
