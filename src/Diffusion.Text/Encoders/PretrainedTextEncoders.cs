using Diffusion.Core;

namespace Diffusion.Text.Encoders;

/// <summary>A frozen, pretrained text encoder that ships in a package of its own (its weights stay there: a model folder
/// records which one it is, never copies it). <see cref="TextComponents"/> saves a conditioner over such an encoder by
/// <see cref="RegistryName"/> and loads it back through <see cref="PretrainedTextEncoders"/>.</summary>
public interface IPretrainedTextEncoder : ITextEncoder
{
    /// <summary>The name it is registered under in <see cref="PretrainedTextEncoders"/>, e.g. "minilm".</summary>
    string RegistryName { get; }
}

/// <summary>How to make a pretrained text conditioner: what <see cref="PretrainedTextEncoders.Register"/> takes.</summary>
public sealed record PretrainedTextEncoder
{
    /// <summary>Registry name, lower case (e.g. "minilm"), as in <c>--text-encoder minilm</c>.</summary>
    public required string Name { get; init; }

    /// <summary>The pretrained model it runs, e.g. "sentence-transformers/all-MiniLM-L6-v2" (recorded in model folders).</summary>
    public required string Model { get; init; }

    /// <summary>The .NET package (assembly) that provides it, e.g. "Diffusion.Text.MiniLM" (named in errors when it is missing).</summary>
    public required string Library { get; init; }

    /// <summary>D, the width of its token states (the UNet's cross-attention dimension).</summary>
    public required int HiddenSize { get; init; }

    /// <summary>Makes a frozen conditioner: (tokens per row or null for the encoder's default, include the pooled vector,
    /// where truncation warnings go) → conditioner.</summary>
    public required Func<int?, bool, IProgress<string>?, TextConditioner> Create { get; init; }
}

/// <summary>
/// The pretrained text encoders this process knows, by name. Packages with an encoder too heavy for
/// <c>Diffusion.Text</c> (MiniLM brings ONNX Runtime) register it themselves (<c>MiniLm.Register()</c>), so a model folder
/// that names one loads wherever that package is referenced and registered, and fails with one message naming the package
/// elsewhere. A registry, not reflection: nothing is loaded by name from a file.
/// </summary>
public static class PretrainedTextEncoders
{
    private static readonly Dictionary<string, PretrainedTextEncoder> All = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Known packages by encoder name, for the message when one is not registered.</summary>
    private static readonly Dictionary<string, (string Library, string Register)> Known = new(StringComparer.OrdinalIgnoreCase)
    {
        ["minilm"] = ("Diffusion.Text.MiniLM", "Diffusion.Text.MiniLM.MiniLm.Register()"),
    };

    /// <summary>Registers (or replaces) <paramref name="encoder"/> under its name. Thread-safe; idempotent.</summary>
    /// <exception cref="DiffusionException">The name is empty.</exception>
    public static void Register(PretrainedTextEncoder encoder)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        if (string.IsNullOrWhiteSpace(encoder.Name)) throw new DiffusionException("A pretrained text encoder needs a name.");
        lock (All) All[encoder.Name] = encoder;
    }

    /// <summary>The registered names.</summary>
    public static IReadOnlyCollection<string> Names
    {
        get { lock (All) return All.Keys.Order(StringComparer.Ordinal).ToArray(); }
    }

    /// <summary>True when <paramref name="name"/> is registered.</summary>
    public static bool IsRegistered(string name)
    {
        lock (All) return All.ContainsKey(name);
    }

    /// <summary>The encoder registered as <paramref name="name"/>.</summary>
    /// <exception cref="DiffusionException">It is not registered; the message names the package that provides it and the call
    /// that registers it, or the registered names.</exception>
    public static PretrainedTextEncoder Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        lock (All)
        {
            if (All.TryGetValue(name, out var e)) return e;
        }
        if (Known.TryGetValue(name, out var k))
            throw new DiffusionException($"The pretrained text encoder '{name}' comes from the {k.Library} package, which this program has not registered: reference {k.Library} and call {k.Register} once at start-up.");
        throw new DiffusionException($"Unknown pretrained text encoder '{name}'. Registered: {(Names.Count == 0 ? "none" : string.Join(", ", Names))}.");
    }
}
