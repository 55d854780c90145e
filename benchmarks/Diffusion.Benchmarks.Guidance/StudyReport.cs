using System.Globalization;
using System.Text;
using Diffusion.Core;
using Diffusion.Plotting;

namespace Diffusion.Benchmarks.Guidance;

/// <summary>The measured values of one setting.</summary>
internal sealed record SettingResult(string Label, string Kind, double Scale, double? IntervalLow, double? IntervalHigh, double Rescale,
    double Accuracy, double Fid, double Precision, double Recall, double Diversity, double SampleSeconds);

/// <summary>The study's report: context, floors and one row per finished setting; saved after every setting.</summary>
internal sealed record StudyReport
{
    public const string JsonFile = "guidance.json";
    public const string MarkdownFile = "guidance.md";
    public const string GridFile = "guidance-grid.png";
    public const string AccuracyPlotFile = "guidance-accuracy.png";
    public const string FidPlotFile = "guidance-fid.png";

    public required string Run { get; init; }
    public required string Preset { get; init; }
    public required string Dataset { get; init; }
    public required string Machine { get; init; }
    public required string DateUtc { get; init; }
    public required string Sampler { get; init; }
    public required int Steps { get; init; }
    public required int PerClass { get; init; }
    public required int Count { get; init; }
    public required long Seed { get; init; }
    public required string Precision { get; init; }
    public required int Threads { get; init; }
    public required string Features { get; init; }
    public required double ClassifierTestAccuracy { get; init; }
    public required double[] IntervalSigma { get; init; }
    public required double FloorFid { get; init; }
    public required double FloorPrecision { get; init; }
    public required double FloorRecall { get; init; }
    public required double RealDiversity { get; init; }
    public required List<SettingResult> Settings { get; init; }

    /// <summary>t-SNE plots written (file names in the output folder): real images first, then the samples of each t-SNE scale.</summary>
    public IReadOnlyList<string> TsnePlots { get; init; } = [];
    public bool Complete { get; init; }

    /// <summary>The issue's target: some setting has higher class accuracy than w = 1 and an FID no worse than w = 1's.
    /// Null until w = 1 and another setting are measured.</summary>
    public string? Target
    {
        get
        {
            var baseline = Settings.FirstOrDefault(s => s.Kind == "plain" && s.Scale == 1);
            if (baseline is null || Settings.Count < 2) return null;
            var best = Settings.Where(s => s != baseline && s.Accuracy > baseline.Accuracy && s.Fid <= baseline.Fid)
                .OrderByDescending(s => s.Accuracy).ThenBy(s => s.Fid).FirstOrDefault();
            return best is null
                ? string.Create(CultureInfo.InvariantCulture, $"not met: no setting beats w=1 ({baseline.Accuracy:P1}, FID {baseline.Fid:F2}) on accuracy without a worse FID")
                : string.Create(CultureInfo.InvariantCulture, $"met by {best.Label}: accuracy {best.Accuracy:P1} > {baseline.Accuracy:P1} and FID {best.Fid:F2} <= {baseline.Fid:F2} (w=1)");
        }
    }

    /// <summary>Writes guidance.json, guidance.md and the two plots (the grid is written by the study).</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        OptionsJson.Save(this, Path.Combine(directory, JsonFile));
        AtomicFile.WriteAllText(Path.Combine(directory, MarkdownFile), ToMarkdown());
        if (Settings.Count == 0) return;
        string title = $"{Preset}, {Sampler} {Steps} steps, N = {Count}";
        LinePlot.SavePng(Series(s => s.Accuracy), Path.Combine(directory, AccuracyPlotFile),
            new LinePlotOptions { Title = "Class accuracy vs guidance - " + title, XLabel = "guidance scale w", YLabel = "class accuracy", LegendCorner = PlotCorner.BottomRight, Width = 900, Height = 560 });
        LinePlot.SavePng(Series(s => s.Fid), Path.Combine(directory, FidPlotFile),
            new LinePlotOptions { Title = "FID vs guidance - " + title, XLabel = "guidance scale w", YLabel = $"FID ({Features})", Width = 900, Height = 560 });
    }

    private List<PlotSeries> Series(Func<SettingResult, double> value)
        => Settings.GroupBy(s => s.Kind).Select(g =>
        {
            var points = g.OrderBy(s => s.Scale).ToList();
            string name = g.Key switch { "interval" => "guidance interval", "rescale" => "guidance rescale", _ => "plain CFG" };
            return new PlotSeries(name, points.Select(s => s.Scale).ToArray(), points.Select(value).ToArray());
        }).ToList();

    /// <summary>The table with floors and the target line.</summary>
    public string ToMarkdown()
    {
        var md = new StringBuilder();
        md.Append(CultureInfo.InvariantCulture, $"# Guidance study: {Preset}\n\n");
        md.Append(CultureInfo.InvariantCulture,
            $"{Sampler} {Steps} steps, {PerClass} samples per class ({Count} per setting), the same initial noise (seed {Seed}) for every setting; {Precision}, {Threads} threads; {Machine}; {DateUtc}.\n");
        md.Append(CultureInfo.InvariantCulture,
            $"Features: {Features} (classifier test accuracy {ClassifierTestAccuracy:P2}). Interval variant: guidance only for sigma in ({IntervalSigma[0]}, {IntervalSigma[1]}], the conditional prediction elsewhere.\n\n");
        md.Append("| setting | class accuracy | FID | precision | recall | intra-class diversity | sampling s |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        md.Append(CultureInfo.InvariantCulture, $"| real images (floor) | {ClassifierTestAccuracy:P1} | {FloorFid:F2} | {FloorPrecision:F3} | {FloorRecall:F3} | {RealDiversity:F3} | |\n");
        foreach (var s in Settings)
            md.Append(CultureInfo.InvariantCulture, $"| {s.Label} | {s.Accuracy:P1} | {s.Fid:F2} | {s.Precision:F3} | {s.Recall:F3} | {s.Diversity:F3} | {s.SampleSeconds:F0} |\n");
        md.Append(CultureInfo.InvariantCulture, $"\nTarget (a setting with higher accuracy than w=1 and an FID no worse): {Target ?? "not yet measured"}.\n");
        if (TsnePlots.Count > 0)
            md.Append("\nt-SNE of the classifier features (one embedding; each plot colours one set by class, the others grey): ")
              .Append(string.Join(", ", TsnePlots)).Append('\n');
        if (!Complete) md.Append("\n(partial: the study did not finish)\n");
        return md.ToString();
    }
}
