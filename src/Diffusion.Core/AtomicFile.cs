namespace Diffusion.Core;

/// <summary>Writes files so that a reader (or a crash) never sees half of one: temp file in the same folder, then rename.</summary>
public static class AtomicFile
{
    /// <summary>Writes through <paramref name="write"/> into a temporary file next to <paramref name="path"/>, then moves it over <paramref name="path"/>.</summary>
    public static void Write(string path, Action<string> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var tmp = full + ".tmp-" + Guid.NewGuid().ToString("N")[..12];
        try
        {
            write(tmp);
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/> atomically.</summary>
    public static void WriteAllText(string path, string text) => Write(path, tmp => File.WriteAllText(tmp, text));
}
