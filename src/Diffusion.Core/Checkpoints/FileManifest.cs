using System.Security.Cryptography;
using System.Text.Json;

namespace Diffusion.Core;

/// <summary>
/// A folder that proves its integrity: <c>manifest.json</c> lists the size and SHA-256 of every other file, written
/// last, so a checkpoint or model folder with a flipped byte, a truncated or a missing file is refused on load instead
/// of being used silently. Folders written before manifests existed have none and load as before.
/// </summary>
public static class FileManifest
{
    /// <summary>The manifest's file name.</summary>
    public const string FileName = "manifest.json";

    private sealed record Entry(long Bytes, string Sha256);

    /// <summary>Hashes every file below <paramref name="folder"/> (except the manifest) and writes the manifest atomically.</summary>
    public static void Write(string folder)
    {
        var entries = Files(folder).ToDictionary(rel => rel, rel => Describe(Path.Combine(folder, rel)), StringComparer.Ordinal);
        var sorted = new SortedDictionary<string, Entry>(entries, StringComparer.Ordinal);
        AtomicFile.WriteAllText(Path.Combine(folder, FileName), JsonSerializer.Serialize(sorted, OptionsJson.Options));
    }

    /// <summary>True when <paramref name="folder"/> has a manifest.</summary>
    public static bool Exists(string folder) => File.Exists(Path.Combine(folder, FileName));

    /// <summary>Checks every file listed in the manifest of <paramref name="folder"/>; a folder without one passes.</summary>
    /// <param name="folder">The folder.</param>
    /// <param name="what">What the folder is, for messages (e.g. "Checkpoint 'runs/x/checkpoints/latest'").</param>
    /// <exception cref="DiffusionException">A listed file is missing, has another size or another hash, or the manifest is unreadable; the message names the file.</exception>
    public static void Verify(string folder, string what)
    {
        var path = Path.Combine(folder, FileName);
        if (!File.Exists(path)) return;
        SortedDictionary<string, Entry>? entries;
        try { entries = JsonSerializer.Deserialize<SortedDictionary<string, Entry>>(File.ReadAllText(path), OptionsJson.Options); }
        catch (JsonException e) { throw new DiffusionException($"{what}: its {FileName} is unreadable ({e.Message}); the folder cannot be trusted.", e); }
        if (entries is null) throw new DiffusionException($"{what}: its {FileName} is empty; the folder cannot be trusted.");
        foreach (var (rel, expected) in entries)
        {
            var file = Path.Combine(folder, rel);
            if (!File.Exists(file)) throw new DiffusionException($"{what}: {file} is missing (listed in its {FileName}).");
            var actual = Describe(file);
            if (actual.Bytes != expected.Bytes)
                throw new DiffusionException($"{what}: {file} has {actual.Bytes} bytes, its {FileName} says {expected.Bytes}: the file is truncated or corrupted.");
            if (!string.Equals(actual.Sha256, expected.Sha256, StringComparison.OrdinalIgnoreCase))
                throw new DiffusionException($"{what}: {file} does not match the SHA-256 in its {FileName}: the file is corrupted.");
        }
    }

    private static IEnumerable<string> Files(string folder)
        => Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(folder, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(rel => rel != FileName)
            .Order(StringComparer.Ordinal);

    private static Entry Describe(string file)
    {
        using var stream = File.OpenRead(file);
        var hash = SHA256.HashData(stream);
        return new Entry(stream.Length, Convert.ToHexString(hash).ToLowerInvariant());
    }
}
