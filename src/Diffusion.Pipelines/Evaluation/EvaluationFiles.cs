using System.Globalization;
using System.Text;
using System.Text.Json;
using Diffusion.Core;
using Diffusion.Evaluation;

namespace Diffusion.Pipelines.Evaluation;

/// <summary>
/// Writes a report as <c>eval.json</c> and <c>eval.md</c> in its run folder. The JSON field names are a format: 'diffusion
/// report', the end-to-end benchmark and the tests read them, so they are spelled out here rather than derived from
/// the report's property names.
/// </summary>
internal static class EvaluationFiles
{
    public static void Write(EvaluationReport report)
    {
        var json = JsonSerializer.Serialize(new
        {
            sampler = report.Sampler,
            steps = report.Steps,
            guidanceInterval = report.GuidanceInterval?.ToString(),
            guidanceRescale = report.GuidanceRescale,
            perClass = report.CountPerClass,
            count = report.Count,
            seed = report.Seed,
            batch = report.BatchSize,
            metrics = report.Metrics,
            features = report.Features,
            classifierTestAccuracy = report.ClassifierTestAccuracy,
            partial = report.Partial,
            results = report.Results.Select(r => new
            {
                guidance = r.Guidance,
                count = r.Count,
                accuracy = r.Accuracy,
                perClass = r.PerClass,
                sampleSeconds = r.SampleSeconds,
                metricSeconds = r.MetricSeconds,
                metrics = r.Metrics,
            }).ToList(),
        }, OptionsJson.Options);
        AtomicFile.WriteAllText(report.JsonPath, json);
        AtomicFile.WriteAllText(report.MarkdownPath, Markdown(report));
    }

    public static string Markdown(EvaluationReport report)
    {
        bool guided = report.GuidanceInterval is not null || report.GuidanceRescale != 0;
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(report.RunDirectory)));
        var md = new StringBuilder();
        md.Append(CultureInfo.InvariantCulture, $"# Evaluation of {name}\n\n{report.Sampler}, {report.Steps} steps, {report.Count} samples");
        if (guided) md.Append(CultureInfo.InvariantCulture, $", guidance interval {report.GuidanceInterval?.ToString() ?? "none"} (sigma), rescale {report.GuidanceRescale}");
        if (report.Conditional) md.Append(CultureInfo.InvariantCulture, $" ({report.CountPerClass} per class)");
        md.Append(CultureInfo.InvariantCulture, $", seed {report.Seed}");
        if (report.ClassifierTestAccuracy is double accuracy) md.Append(CultureInfo.InvariantCulture, $"; classifier test accuracy {accuracy:P2}");
        md.Append(". Floors: the same metric between real images (FID, KID, precision/recall: N train vs N test images; IS: N test images; class accuracy: the classifier on the test split).\n\n");
        foreach (var r in report.Results)
        {
            md.Append(CultureInfo.InvariantCulture, $"## {r.Label}\n\n{MetricReport.ToMarkdown([new Values(r.Metrics)])}\n");
            if (r.ClassAccuracy is { } perClass) md.Append(CultureInfo.InvariantCulture, $"Class accuracy per class:\n\n{perClass.ToMarkdown()}\n");
        }
        if (report.Partial) md.Append("\n(partial: evaluation was cancelled)\n");
        return md.ToString();
    }

    private sealed record Values(IReadOnlyList<MetricValue> Items) : IMetricResult
    {
        IReadOnlyList<MetricValue> IMetricResult.Values => Items;
    }
}
