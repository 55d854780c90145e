using System.Collections;
using Diffusion.Core;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>Strict loading and saving of <see cref="FidInceptionV3"/> weights as safetensors or PyTorch state dicts.</summary>
internal static class InceptionWeights
{
    private const string BatchCounter = ".num_batches_tracked";

    private static readonly string[] PickleExtensions = [".pth", ".pt", ".bin"];

    private static readonly string WhereToGetThem =
        "The FID Inception weights are pytorch-fid's pt_inception-2015-12-05-6726825d.pth (or the same tensors saved as .safetensors); none ship with this SDK.";

    public static void Load(FidInceptionV3 network, string path)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new DiffusionException($"Inception weights file '{path}' does not exist. {WhereToGetThem}");

        using var scope = NewDisposeScope();
        var found = Read(path);
        var targets = network.state_dict().Where(kv => !kv.Key.EndsWith(BatchCounter, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value);
        var provided = found.Where(kv => !kv.Key.EndsWith(BatchCounter, StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value);
        StateDicts.CheckNames(provided.Keys, targets.Keys, $"Inception weights '{path}'");
        var wrongShape = targets.Where(kv => !provided[kv.Key].shape.SequenceEqual(kv.Value.shape))
            .Select(kv => $"{kv.Key} [{string.Join(", ", provided[kv.Key].shape)}] (expected [{string.Join(", ", kv.Value.shape)}])")
            .Order().ToList();
        if (wrongShape.Count > 0)
            throw new DiffusionException($"Inception weights '{path}' have tensors of the wrong shape: {string.Join("; ", wrongShape.Take(8))}{(wrongShape.Count > 8 ? $" and {wrongShape.Count - 8} more" : "")}.");
        var notFloat = provided.Where(kv => !kv.Value.is_floating_point()).Select(kv => kv.Key).Order().ToList();
        if (notFloat.Count > 0)
            throw new DiffusionException($"Inception weights '{path}' hold non-floating-point tensors: {string.Join(", ", notFloat.Take(8))}.");

        using var noGrad = no_grad();
        foreach (var (name, target) in targets) target.copy_(provided[name]);
    }

    public static void Save(FidInceptionV3 network, string path)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var scope = NewDisposeScope();
        try
        {
            if (IsPickle(path))
            {
                var tensors = network.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().cpu().contiguous());
                AtomicFile.Write(path, tmp => PyTorchPickler.PickleStateDict(tmp, tensors));
            }
            else
            {
                StateDicts.Save(network.state_dict(), path);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DiffusionException($"Cannot write Inception weights to '{path}': {e.Message}", e);
        }
    }

    private static bool IsPickle(string path) => PickleExtensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    // Tensors in the caller's dispose scope.
    private static Dictionary<string, Tensor> Read(string path)
    {
        try
        {
            if (!IsPickle(path)) return Safetensors.LoadStateDict(path);
            var table = PyTorchUnpickler.UnpickleStateDict(path);
            var result = new Dictionary<string, Tensor>();
            foreach (DictionaryEntry entry in table)
            {
                if (entry.Key is not string name || entry.Value is not Tensor t)
                    throw new DiffusionException($"Inception weights '{path}' are not a state dict of named tensors (found an entry of type {entry.Value?.GetType().Name ?? "null"}). Save the model's state_dict(), not the model.");
                result[name] = t;
            }
            return result;
        }
        catch (Exception e) when (e is not DiffusionException)
        {
            var hint = IsPickle(path)
                ? " Files written by PyTorch before 1.6 (not zip-based) cannot be read: re-save it with torch.save(torch.load(p), p2) or convert it to safetensors."
                : "";
            throw new DiffusionException($"Cannot read Inception weights '{path}': {e.Message}.{hint}", e);
        }
    }
}
