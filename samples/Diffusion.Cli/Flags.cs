using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Diffusion.Cli;

/// <summary>
/// System.CommandLine options of the kinds the commands use: invariant-culture numbers with a range, names from a fixed
/// list, and text. A bad value is a parse error naming the flag ("--count must be a whole number, got 'abc'."), so the
/// commands only ever see valid values; a default is shown in --help as [default: X].
/// </summary>
internal static class Flags
{
    /// <summary>A whole number in [<paramref name="min"/>, <paramref name="max"/>] with a default.</summary>
    public static Option<int> Int(string name, string description, int @default, int min = int.MinValue, int max = int.MaxValue)
        => new(name) { Description = description, DefaultValueFactory = _ => @default, CustomParser = r => ParseInt(r, name, min, max) };

    /// <summary>A whole number in [<paramref name="min"/>, <paramref name="max"/>]; null when not given.</summary>
    public static Option<int?> OptionalInt(string name, string description, int min = int.MinValue, int max = int.MaxValue)
        => new(name) { Description = description, CustomParser = r => ParseInt(r, name, min, max) };

    /// <summary>A finite number in [<paramref name="min"/>, <paramref name="max"/>] with a default.</summary>
    public static Option<double> Double(string name, string description, double @default, double min = double.MinValue, double max = double.MaxValue)
        => new(name) { Description = description, DefaultValueFactory = _ => @default, CustomParser = r => ParseDouble(r, name, min, max) };

    /// <summary>A finite number in [<paramref name="min"/>, <paramref name="max"/>]; null when not given.</summary>
    public static Option<double?> OptionalDouble(string name, string description, double min = double.MinValue, double max = double.MaxValue)
        => new(name) { Description = description, CustomParser = r => ParseDouble(r, name, min, max) };

    /// <summary>Text, with a default when <paramref name="default"/> is set; <paramref name="completions"/> are offered by tab
    /// completion and shown in --help as the value's placeholder.</summary>
    public static Option<string> Text(string name, string description, string? @default = null, IEnumerable<string>? completions = null)
    {
        var option = new Option<string>(name) { Description = description };
        if (@default is not null) option.DefaultValueFactory = _ => @default;
        if (completions is not null) option.CompletionSources.Add(completions.ToArray());
        return option;
    }

    /// <summary>
    /// One of a fixed list of names (case-insensitive), each naming a value; the first name of each entry is the one shown
    /// in help, completion and the error, the others are accepted aliases. <paramref name="noun"/> names the kind in the
    /// error: "Unknown schedule 'quadratic'. Valid: linear, cosine, sigmoid."
    /// </summary>
    public static Option<T> Choice<T>(string name, string description, string noun, IReadOnlyList<(string[] Names, T Value)> choices)
    {
        var shown = choices.Select(c => c.Names[0]).ToArray();
        var option = new Option<T>(name)
        {
            Description = description,
            CustomParser = r =>
            {
                var text = r.Tokens[^1].Value;
                foreach (var (names, value) in choices)
                    if (names.Contains(text, StringComparer.OrdinalIgnoreCase)) return value;
                r.AddError($"Unknown {noun} '{text}'. Valid: {string.Join(", ", shown)}.");
                return default!;
            },
        };
        option.CompletionSources.Clear();   // enums come with completions of their C# names
        option.CompletionSources.Add(shown);
        return option;
    }

    /// <inheritdoc cref="Choice{T}(string, string, string, IReadOnlyList{ValueTuple{string[], T}})"/>
    public static Option<T> Choice<T>(string name, string description, string noun, IReadOnlyList<(string[] Names, T Value)> choices, T @default)
    {
        var option = Choice(name, description, noun, choices);
        option.DefaultValueFactory = _ => @default;
        return option;
    }

    /// <summary>True when the user wrote <paramref name="option"/> on the command line, false when it took its default.</summary>
    public static bool Given(this ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };

    private static int ParseInt(ArgumentResult r, string name, int min, int max)
    {
        var text = r.Tokens[^1].Value;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value))
            r.AddError($"{name} must be a whole number, got '{text}'.");
        else if (value < min || value > max)
            r.AddError(max == int.MaxValue ? $"{name} must be at least {min}, got {value}." : $"{name} must be between {min} and {max}, got {value}.");
        return value;
    }

    private static double ParseDouble(ArgumentResult r, string name, double min, double max)
    {
        var text = r.Tokens[^1].Value;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
            r.AddError($"{name} must be a number, got '{text}'.");
        else if (value < min || value > max)
            r.AddError(max == double.MaxValue
                ? string.Create(CultureInfo.InvariantCulture, $"{name} must be at least {min}, got {text}.")
                : string.Create(CultureInfo.InvariantCulture, $"{name} must be between {min} and {max}, got {text}."));
        return value;
    }
}
