namespace Diffusion.Tests;

/// <summary>
/// A new empty directory under the system temp folder, deleted with everything in it on dispose:
/// <c>using var dir = new TempDir();</c>. Tests write weights of 100 MB and more, so none may leave files behind.
/// It converts to its path, so <c>Path.Combine(dir, "run")</c> and <c>$"--out {dir}"</c> read naturally.
/// </summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "diffusion-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    /// <summary>The directory's full path.</summary>
    public string Path { get; }

    /// <summary>The path of <paramref name="name"/> inside the directory.</summary>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    public static implicit operator string(TempDir dir) => dir.Path;

    public override string ToString() => Path;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
