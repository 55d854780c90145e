using System.Globalization;
using System.Text;
using Diffusion.Core;

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
    /// <summary>The same metric between two real image sets of the same sizes (for FID, KID and precision/recall: a
    /// train-split subset against the test split), i.e. what a generator that reproduces the data exactly would score
    /// at this N; for the Inception Score and class accuracy, the value on real images. Null when not computed.</summary>
    public double? Floor { get; init; }

    /// <summary>The floor's standard deviation over subsets or splits, when the metric has one.</summary>
    public double? FloorStd { get; init; }

    /// <summary>Whether the metric compares samples with reference images (FID, KID, precision/recall): such a value
    /// depends on N and means something only next to its <see cref="Floor"/>.</summary>
    public bool NeedsFloor => ReferenceCount > 0;

    /// <summary>The value as one Markdown table row matching <see cref="MetricReport.MarkdownHeader"/>.</summary>
    public string ToMarkdownRow()
    {
        var reference = ReferenceCount > 0 ? ReferenceCount.ToString(CultureInfo.InvariantCulture) : "—";
        var floor = Floor is double f ? WithStd(f, FloorStd) : "—";
        return string.Create(CultureInfo.InvariantCulture, $"| {Metric} | {WithStd(Value, Std)} | {floor} | {reference} | {SampleCount} | {Extractor} |");
    }

    private static string WithStd(double value, double? std) => std is double s
        ? string.Create(CultureInfo.InvariantCulture, $"{Format(value)} ± {Format(s)}")
        : Format(value);

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
    public const string MarkdownHeader = "| metric | value | floor (real vs real) | N reference | N samples | features |\n| --- | ---: | ---: | ---: | ---: | --- |";

    /// <summary>A Markdown table with one row per value of every result, in order.</summary>
    /// <exception cref="DiffusionException">A value that compares with reference images has no floor (see
    /// <see cref="FlooredResult"/>) or no sample count: such a number is not reported on its own.</exception>
    public static string ToMarkdown(IEnumerable<IMetricResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var sb = new StringBuilder().Append(MarkdownHeader).Append('\n');
        foreach (var result in results)
            foreach (var value in result.Values)
            {
                CheckReportable(value);
                sb.Append(value.ToMarkdownRow()).Append('\n');
            }
        return sb.ToString();
    }

    /// <summary>Throws unless <paramref name="value"/> carries its sample count and, when it compares with reference images, its floor.</summary>
    /// <exception cref="DiffusionException">It does not.</exception>
    public static void CheckReportable(MetricValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.SampleCount < 1)
            throw new DiffusionException($"{value.Metric} has no sample count; a metric is reported only with its N.");
        if (value.NeedsFloor && value.Floor is null)
            throw new DiffusionException($"{value.Metric} ({value.Extractor}, N = {value.SampleCount}) has no floor; report it through FlooredResult together with the same metric between two real sets of the same N.");
    }
}
