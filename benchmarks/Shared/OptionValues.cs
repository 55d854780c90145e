using System.Globalization;
using Diffusion.Core;

namespace Diffusion.Benchmarks;

/// <summary>"--name value" pairs of a benchmark's command line, checked against the known names, with typed readers
/// whose errors name the option and its valid range.</summary>
internal sealed class OptionValues
{
    private readonly Dictionary<string, string> _values = new();

    /// <summary>Reads <paramref name="args"/>.</summary>
    /// <exception cref="DiffusionException">An option is unknown or lacks its value.</exception>
    public OptionValues(IReadOnlyList<string> args, IReadOnlyCollection<string> known)
    {
        for (int i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (!name.StartsWith("--", StringComparison.Ordinal) || !known.Contains(name[2..]))
                throw new DiffusionException($"Unknown option '{name}'. Valid: {string.Join(", ", known.Select(k => "--" + k))}.");
            if (i + 1 >= args.Count) throw new DiffusionException($"Option '{name}' needs a value.");
            _values[name[2..]] = args[++i];
        }
    }

    /// <summary>The raw value of --<paramref name="name"/>, if given.</summary>
    public bool TryGet(string name, out string value) => _values.TryGetValue(name, out value!);

    /// <summary>Comma-separated items, trimmed, empty ones dropped.</summary>
    public static string[] List(string value) => value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>A whole number in [min, max].</summary>
    /// <exception cref="DiffusionException">Not a whole number in range.</exception>
    public static int Int(string option, string value, int min, int max)
        => int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n >= min && n <= max ? n
            : throw new DiffusionException($"--{option} takes whole numbers from {min} to {max}, got '{value}'.");

    /// <summary>A number in [min, max].</summary>
    /// <exception cref="DiffusionException">Not a number in range.</exception>
    public static double Number(string option, string value, double min, double max)
        => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) && x >= min && x <= max ? x
            : throw new DiffusionException($"--{option} takes numbers from {min} to {max}, got '{value}'.");

    /// <summary>Comma-separated distinct numbers in [min, max].</summary>
    /// <exception cref="DiffusionException">An item is not a number in range.</exception>
    public static double[] Numbers(string option, string value, double min, double max)
        => List(value).Select(s => Number(option, s, min, max)).Distinct().ToArray();
}
