using System.Globalization;
using System.Text;

namespace Diffusion.Evaluation;

/// <summary>One number of a metric result, as it appears in a report table.</summary>
/// <param name="Metric">The metric's short name, e.g. "FID" or "precision".</param>
/// <param name="Value">The value (a mean when <paramref name="Std"/> is set).</param>
/// <param name="Std">The standard deviation over subsets or splits, when the metric has one.</param>
/// <param name="ReferenceCount">Reference (real) samples used; 0 when the metric needs none.</param>
/// <param name="SampleCount">Generated samples used.</param>
/// <param name="Extractor">Name of the feature extractor or classifier the metric was computed with.</param>
public sealed record MetricValue(string Metric, double Value, double? Std, long ReferenceCount, long SampleCount, string Extractor)
{
    /// <summary>The value as one Markdown table row matching <see cref="MetricReport.MarkdownHeader"/>.</summary>
    public string ToMarkdownRow()
    {
        var value = Std is double s
            ? string.Create(CultureInfo.InvariantCulture, $"{Format(Value)} ± {Format(s)}")
            : Format(Value);
        var reference = ReferenceCount > 0 ? ReferenceCount.ToString(CultureInfo.InvariantCulture) : "—";
        return string.Create(CultureInfo.InvariantCulture, $"| {Metric} | {value} | {reference} | {SampleCount} | {Extractor} |");
    }

    private static string Format(double v) => Math.Abs(v) >= 1e-3 || v == 0
        ? v.ToString("0.0000", CultureInfo.InvariantCulture)
        : v.ToString("0.000E+0", CultureInfo.InvariantCulture);
}

/// <summary>A metric result that can list its values as report rows.</summary>
public interface IMetricResult
{
    /// <summary>The result's numbers, one <see cref="MetricValue"/> each.</summary>
    IReadOnlyList<MetricValue> Values { get; }
}

/// <summary>Formats metric results as one Markdown table.</summary>
public static class MetricReport
{
    /// <summary>The table header (two lines) that <see cref="MetricValue.ToMarkdownRow"/> rows fit under.</summary>
    public const string MarkdownHeader = "| metric | value | N reference | N samples | features |\n| --- | ---: | ---: | ---: | --- |";

    /// <summary>A Markdown table with one row per value of every result, in order.</summary>
    public static string ToMarkdown(IEnumerable<IMetricResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var sb = new StringBuilder().Append(MarkdownHeader).Append('\n');
        foreach (var result in results)
            foreach (var value in result.Values)
                sb.Append(value.ToMarkdownRow()).Append('\n');
        return sb.ToString();
    }
}
