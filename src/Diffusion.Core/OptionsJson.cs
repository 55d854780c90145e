using System.Text.Json;
using System.Text.Json.Serialization;

namespace Diffusion.Core;

/// <summary>One JSON convention for every options record and run file: indented, camelCase, enums as strings.</summary>
public static class OptionsJson
{
    /// <summary>The serializer options used everywhere.</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter() },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The same conventions on one line, for JSON-lines logs.</summary>
    public static JsonSerializerOptions Compact { get; } = new(Options) { WriteIndented = false };

    /// <summary>Serializes <paramref name="value"/>.</summary>
    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    /// <summary>Writes <paramref name="value"/> to <paramref name="path"/> atomically.</summary>
    public static void Save<T>(T value, string path) => AtomicFile.WriteAllText(path, Serialize(value));

    /// <summary>Reads a <typeparamref name="T"/> from <paramref name="path"/>.</summary>
    /// <exception cref="DiffusionException">The file is missing or not valid JSON for <typeparamref name="T"/>.</exception>
    public static T Load<T>(string path)
    {
        if (!File.Exists(path)) throw new DiffusionException($"Missing file '{path}'.");
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path), Options)
                ?? throw new DiffusionException($"'{path}' is empty.");
        }
        catch (JsonException e)
        {
            throw new DiffusionException($"'{path}' is not a valid {typeof(T).Name} file: {e.Message}", e);
        }
    }
}
