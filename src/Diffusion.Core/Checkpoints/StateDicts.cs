using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Diffusion.Core;

/// <summary>
/// Named tensors on disk as safetensors (through TorchSharp.PyBridge): atomic saves, strict loads that
/// name every missing or unexpected tensor, and errors that name the file.
/// </summary>
public static class StateDicts
{
    /// <summary>Writes <paramref name="tensors"/> to <paramref name="path"/> atomically (contiguous CPU copies).</summary>
    public static void Save(IReadOnlyDictionary<string, Tensor> tensors, string path)
    {
        using var scope = NewDisposeScope();
        var cpu = tensors.ToDictionary(kv => kv.Key, kv => kv.Value.detach().cpu().contiguous());
        AtomicFile.Write(path, tmp => Safetensors.SaveStateDict(tmp, cpu));
    }

    /// <summary>Reads every tensor of a safetensors file; the tensors are not owned by any dispose scope.</summary>
    /// <exception cref="DiffusionException">The file is missing or not a valid safetensors file.</exception>
    public static Dictionary<string, Tensor> Load(string path)
    {
        if (!File.Exists(path)) throw new DiffusionException($"Missing weights file '{path}'.");
        try
        {
            var d = Safetensors.LoadStateDict(path);
            foreach (var t in d.Values) t.DetachFromDisposeScope();
            return d;
        }
        catch (Exception e) when (e is not DiffusionException)
        {
            throw new DiffusionException($"'{path}' is not a readable safetensors file (truncated or corrupted?): {e.Message}", e);
        }
    }

    /// <summary>Copies the tensors of <paramref name="path"/> into <paramref name="module"/>'s parameters and buffers,
    /// converting dtypes; every module tensor must be present and every file tensor must be used.</summary>
    /// <exception cref="DiffusionException">The file is unreadable, or names or shapes do not match.</exception>
    public static void LoadInto(nn.Module module, string path)
    {
        ArgumentNullException.ThrowIfNull(module);
        var loaded = Load(path);
        try { CopyInto(module, loaded, path); }
        finally { foreach (var t in loaded.Values) t.Dispose(); }
    }

    /// <summary>Copies named tensors into <paramref name="module"/> strictly (see <see cref="LoadInto"/>).</summary>
    /// <exception cref="DiffusionException">Names or shapes do not match.</exception>
    public static void CopyInto(nn.Module module, IReadOnlyDictionary<string, Tensor> tensors, string source)
    {
        ArgumentNullException.ThrowIfNull(module);
        var targets = module.state_dict();
        CheckNames(tensors.Keys, targets.Keys, $"'{source}'");
        using var noGrad = no_grad();
        foreach (var (name, target) in targets)
        {
            var src = tensors[name];
            if (!src.shape.SequenceEqual(target.shape))
                throw new DiffusionException($"'{source}': tensor '{name}' has shape [{string.Join(", ", src.shape)}], the model expects [{string.Join(", ", target.shape)}].");
            target.copy_(src);
        }
    }

    /// <summary>Throws when <paramref name="found"/> and <paramref name="expected"/> differ, naming the differences.</summary>
    /// <exception cref="DiffusionException">Some names are missing or unexpected.</exception>
    public static void CheckNames(IEnumerable<string> found, IEnumerable<string> expected, string what)
    {
        var f = found.ToHashSet();
        var e = expected.ToHashSet();
        var missing = e.Except(f).Order().ToList();
        var unexpected = f.Except(e).Order().ToList();
        if (missing.Count == 0 && unexpected.Count == 0) return;
        static string List(List<string> names) => string.Join(", ", names.Take(8)) + (names.Count > 8 ? $" and {names.Count - 8} more" : "");
        var parts = new List<string>();
        if (missing.Count > 0) parts.Add($"missing {List(missing)}");
        if (unexpected.Count > 0) parts.Add($"unexpected {List(unexpected)}");
        throw new DiffusionException($"{what} does not match the model: {string.Join("; ", parts)}.");
    }
}
