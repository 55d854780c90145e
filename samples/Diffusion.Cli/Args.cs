using System.Globalization;
using Diffusion.Core;

namespace Diffusion.Cli;

/// <summary>One option of a command: name, help text, default shown in --help.</summary>
internal sealed record OptionSpec(string Name, string Help, string? Default = null, bool IsFlag = false);

/// <summary>A command's options as parsed from "--name value" pairs, with typed, validated getters.</summary>
internal sealed class Args
{
    private readonly Dictionary<string, string> _values;
    private readonly HashSet<string> _given;
    private readonly string _command;

    private Args(string command, Dictionary<string, string> values, HashSet<string> given)
    {
        _command = command;
        _values = values;
        _given = given;
    }

    /// <summary>Parses <paramref name="argv"/> against <paramref name="specs"/>; unknown options and missing values are errors.</summary>
    public static Args Parse(string command, IReadOnlyList<string> argv, IReadOnlyList<OptionSpec> specs)
    {
        var byName = specs.ToDictionary(s => s.Name);
        var values = new Dictionary<string, string>();
        for (int i = 0; i < argv.Count; i++)
        {
            var a = argv[i];
            if (!a.StartsWith("--", StringComparison.Ordinal))
                throw new DiffusionException($"Unexpected argument '{a}' for '{command}'; options start with --. See 'diffusion {command} --help'.");
            var name = a[2..];
            string? inline = null;
            int eq = name.IndexOf('=');
            if (eq >= 0) { inline = name[(eq + 1)..]; name = name[..eq]; }
            if (!byName.TryGetValue(name, out var spec))
                throw new DiffusionException($"Unknown option '--{name}' for '{command}'. Valid: {string.Join(", ", specs.Select(s => "--" + s.Name))}.");
            if (spec.IsFlag) { values[name] = inline ?? "true"; continue; }
            if (inline is null)
            {
                if (i + 1 >= argv.Count || argv[i + 1].StartsWith("--", StringComparison.Ordinal))
                    throw new DiffusionException($"Option '--{name}' needs a value.");
                inline = argv[++i];
            }
            values[name] = inline;
        }
        var given = values.Keys.ToHashSet();
        foreach (var s in specs)
            if (s.Default is not null && !values.ContainsKey(s.Name)) values[s.Name] = s.Default;
        return new Args(command, values, given);
    }

    public bool Has(string name) => _values.ContainsKey(name);

    /// <summary>True when the user wrote --<paramref name="name"/> on the command line (not just its default).</summary>
    public bool Given(string name) => _given.Contains(name);

    public string? String(string name) => _values.GetValueOrDefault(name);

    public string RequiredString(string name)
        => String(name) ?? throw new DiffusionException($"'{_command}' needs --{name}. See 'diffusion {_command} --help'.");

    public bool Flag(string name) => String(name) is "true" or "1" or "yes";

    public int? Int(string name, int min = int.MinValue, int max = int.MaxValue)
    {
        var s = String(name);
        if (s is null) return null;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            throw new DiffusionException($"--{name} must be a whole number, got '{s}'.");
        if (v < min || v > max)
            throw new DiffusionException($"--{name} must be between {min} and {max}, got {v}.");
        return v;
    }

    public double? Double(string name, double min = double.NegativeInfinity, double max = double.PositiveInfinity)
    {
        var s = String(name);
        if (s is null) return null;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
            throw new DiffusionException($"--{name} must be a number, got '{s}'.");
        if (v < min || v > max)
            throw new DiffusionException($"--{name} must be between {min.ToString(CultureInfo.InvariantCulture)} and {max.ToString(CultureInfo.InvariantCulture)}, got {s}.");
        return v;
    }

    /// <summary>The help text of a command: usage line, description, one line per option with its default.</summary>
    public static string Help(string command, string description, IReadOnlyList<OptionSpec> specs)
    {
        var lines = new List<string> { $"Usage: diffusion {command} [options]", "", description, "", "Options:" };
        int width = specs.Max(s => s.Name.Length) + 4;
        foreach (var s in specs)
        {
            var name = ("--" + s.Name).PadRight(width);
            var def = s.Default is null ? "" : $" [default: {s.Default}]";
            lines.Add($"  {name}{s.Help}{def}");
        }
        lines.Add($"  {"--help".PadRight(width)}Show this help.");
        return string.Join(Environment.NewLine, lines);
    }
}
