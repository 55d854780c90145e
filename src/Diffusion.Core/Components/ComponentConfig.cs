using System.Text.Json;
using System.Text.Json.Nodes;

namespace Diffusion.Core.Components;

/// <summary>
/// One component's <c>config.json</c> in diffusers' convention: snake_case keys, <c>_class_name</c> naming the
/// component class, and keys starting with an underscore for bookkeeping (versions). Reading is strict: every value
/// is type-checked with a message naming the file and key, and <see cref="EnsureAllRead"/> names every key that no
/// reader asked for, so a config written for another architecture never loads silently.
/// </summary>
public sealed class ComponentConfig
{
    private readonly JsonObject _json;
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    private ComponentConfig(JsonObject json, string source)
    {
        _json = json;
        Source = source;
    }

    /// <summary>Where the config came from, for messages.</summary>
    public string Source { get; }

    /// <summary>The <c>_class_name</c> value.</summary>
    /// <exception cref="DiffusionException">The key is missing or not a string.</exception>
    public string ClassName => String("_class_name") ?? throw new DiffusionException($"{Source} has no _class_name; it is not a component config.");

    /// <summary>Starts a config for <paramref name="className"/> to be written.</summary>
    public static JsonObject New(string className) => new()
    {
        ["_class_name"] = className,
        ["_diffusion_version"] = typeof(ComponentConfig).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
    };

    /// <summary>Reads <paramref name="path"/>.</summary>
    /// <exception cref="DiffusionException">The file is missing or not a JSON object.</exception>
    public static ComponentConfig Read(string path)
    {
        if (!File.Exists(path)) throw new DiffusionException($"Missing config file '{path}'.");
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) is JsonObject o ? new ComponentConfig(o, $"'{path}'")
                : throw new DiffusionException($"'{path}' is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new DiffusionException($"'{path}' is not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>Reads <paramref name="path"/> and checks that its <c>_class_name</c> is one of <paramref name="classNames"/>.</summary>
    /// <param name="path">The config file.</param>
    /// <param name="kind">What the component is, for the message (e.g. "UNet", "scheduler").</param>
    /// <param name="classNames">The class names this SDK reads for it.</param>
    /// <exception cref="DiffusionException">The file is missing or not a JSON object, or names another class.</exception>
    public static ComponentConfig Read(string path, string kind, params string[] classNames)
    {
        var config = Read(path);
        if (!classNames.Contains(config.ClassName, StringComparer.Ordinal))
            throw new DiffusionException($"{config.Source}: unknown {kind} class '{config.ClassName}'. Known: {string.Join(", ", classNames)}.");
        return config;
    }

    /// <summary>Writes <paramref name="config"/> to <paramref name="path"/> atomically, indented.</summary>
    public static void Write(JsonObject config, string path)
        => AtomicFile.WriteAllText(path, config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");

    /// <summary>True when the key is present with a non-null value.</summary>
    public bool Has(string key) => _json.TryGetPropertyValue(key, out var v) && v is not null;

    /// <summary>Marks keys of the original format that this implementation reads but does not use (so
    /// <see cref="EnsureAllRead"/> accepts them).</summary>
    public void Ignore(params string[] keys)
    {
        foreach (var k in keys) _read.Add(k);
    }

    /// <summary>A string, or null when absent or null.</summary>
    public string? String(string key)
    {
        var node = Node(key);
        if (node is null) return null;
        if (node is JsonValue v && v.TryGetValue(out string? s)) return s;
        throw new DiffusionException($"{Source}: {key} = {node.ToJsonString()} is not a valid string.");
    }

    /// <summary>A boolean, or null when absent.</summary>
    public bool? Bool(string key) => Get(key, static (JsonValue v, out bool b) => v.TryGetValue(out b));

    /// <summary>An integer, or null when absent.</summary>
    public int? Int(string key) => Get(key, static (JsonValue v, out int i) =>
    {
        if (v.TryGetValue(out i)) return true;
        if (v.TryGetValue(out double d) && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue) { i = (int)d; return true; }
        return false;
    });

    /// <summary>A number, or null when absent.</summary>
    public double? Double(string key) => Get(key, static (JsonValue v, out double d) => v.TryGetValue(out d));

    /// <summary>An integer that must be present.</summary>
    /// <exception cref="DiffusionException">The key is missing or not an integer.</exception>
    public int RequiredInt(string key) => Int(key) ?? throw Missing(key);

    /// <summary>An array of integers, or null when absent.</summary>
    public int[]? IntArray(string key) => Array(key, n => n is JsonValue v && v.TryGetValue(out int i) ? (object)i : null)?.Select(i => (int)i).ToArray();

    /// <summary>An array of strings, or null when absent.</summary>
    public string[]? StringArray(string key) => Array(key, n => n is JsonValue v && v.TryGetValue(out string? s) ? s : null)?.Cast<string>().ToArray();

    /// <summary>An array of strings that may hold nulls (diffusers' <c>[null, null]</c> for an absent component), or null when absent.</summary>
    public string?[]? StringArrayOrNulls(string key)
    {
        _read.Add(key);
        if (!_json.TryGetPropertyValue(key, out var node) || node is null) return null;
        if (node is not JsonArray a) throw new DiffusionException($"{Source}: {key} must be an array, got {node.ToJsonString()}.");
        return a.Select(n => n is null ? null : n is JsonValue v && v.TryGetValue(out string? s) ? s
            : throw new DiffusionException($"{Source}: {key} holds {n.ToJsonString()}, not a string.")).ToArray();
    }

    /// <summary>Checks that <paramref name="key"/> is absent or has one of <paramref name="allowed"/> values (compared as JSON text),
    /// for options of the original format that this implementation supports at one value only.</summary>
    /// <exception cref="DiffusionException">The value is another one.</exception>
    public void Expect(string key, params object?[] allowed)
    {
        _read.Add(key);
        if (!_json.TryGetPropertyValue(key, out var node)) return;
        if (allowed.Any(a => SameValue(node, a))) return;
        throw new DiffusionException($"{Source}: {key} = {node?.ToJsonString() ?? "null"} is not supported (supported: {string.Join(", ", allowed.Select(a => JsonSerializer.Serialize(a)))}).");
    }

    private static bool SameValue(JsonNode? node, object? expected) => expected switch
    {
        null => node is null,
        bool b => node is JsonValue v && v.TryGetValue(out bool x) && x == b,
        string s => node is JsonValue v && v.TryGetValue(out string? x) && x == s,
        IConvertible n => node is JsonValue v && v.TryGetValue(out double x) && x == n.ToDouble(System.Globalization.CultureInfo.InvariantCulture),
        _ => false,
    };

    /// <summary>Throws when the config has keys (other than bookkeeping keys starting with '_') that no reader asked for.</summary>
    /// <exception cref="DiffusionException">Unknown keys are present; the message names them.</exception>
    public void EnsureAllRead()
    {
        var unknown = _json.Select(kv => kv.Key).Where(k => !k.StartsWith('_') && !_read.Contains(k)).Order(StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
            throw new DiffusionException($"{Source} has keys this version does not know: {string.Join(", ", unknown)}.");
    }

    private delegate bool TryParse<T>(JsonValue value, out T result);

    private T? Get<T>(string key, TryParse<T> parse) where T : struct
    {
        var node = Node(key);
        if (node is null) return null;
        if (node is JsonValue v && parse(v, out var result)) return result;
        throw new DiffusionException($"{Source}: {key} = {node.ToJsonString()} is not a valid {Describe<T>()}.");
    }

    private JsonNode? Node(string key)
    {
        _read.Add(key);
        return _json.TryGetPropertyValue(key, out var node) ? node : null;
    }

    private object[]? Array(string key, Func<JsonNode?, object?> item)
    {
        _read.Add(key);
        if (!_json.TryGetPropertyValue(key, out var node) || node is null) return null;
        if (node is not JsonArray a) throw new DiffusionException($"{Source}: {key} must be an array, got {node.ToJsonString()}.");
        return a.Select(n => item(n) ?? throw new DiffusionException($"{Source}: {key} holds {n?.ToJsonString() ?? "null"}, not valid there.")).ToArray();
    }

    private DiffusionException Missing(string key) => new($"{Source} lacks the required key {key}.");

    private static string Describe<T>()
    {
        var t = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
        return t == typeof(int) ? "integer" : t == typeof(double) ? "number" : t == typeof(bool) ? "boolean" : "string";
    }
}
