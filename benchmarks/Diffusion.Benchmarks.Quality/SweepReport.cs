using System.Globalization;
using System.Text;
using Diffusion.Core;
using Diffusion.Plotting;
using SixLabors.ImageSharp.PixelFormats;

namespace Diffusion.Benchmarks.Quality;

/// <summary>One sampler at one NFE budget.</summary>
/// <param name="Sampler">Registry name.</param>
/// <param name="Nfe">The target NFE per image.</param>
/// <param name="Steps">The sampler's step count that fits the target.</param>
/// <param name="Evaluations">Network evaluations per image, counted during sampling (≤ <paramref name="Nfe"/>).</param>
/// <param name="Fid">FID against the real reference set, in the classifier's feature space.</param>
/// <param name="Accuracy">Fraction of images the classifier assigns to the requested class; null for unconditional models.</param>
/// <param name="Seconds">Wall-clock sampling time for all images of the setting.</param>
/// <param name="CpuSeconds">CPU time of the process (all threads) during that sampling; on a shared machine it tells
/// what the wall-clock time would be on an idle one better than <paramref name="Seconds"/> does.</param>
/// <param name="MetricSeconds">Wall-clock time of the features, FID and accuracy.</param>
internal sealed record SettingResult(string Sampler, int Nfe, int Steps, int Evaluations, double Fid, double? Accuracy, double Seconds, double CpuSeconds, double MetricSeconds);

/// <summary>The issue's target: at 10 NFE the best sampler's FID is within 10 % of the best FID at the largest NFE.</summary>
internal sealed record TargetCheck(int LowNfe, string BestLowSampler, double BestLowFid, int HighNfe, string BestHighSampler, double BestHighFid, double Ratio, bool Met);

/// <summary>Everything the sweep measured; written as quality.json after every setting, so a cancelled sweep leaves a
/// consistent partial report.</summary>
internal sealed record SweepReport
{
    public string Benchmark { get; init; } = "sampler-quality";
    public required string Run { get; init; }
    public required string Preset { get; init; }
    public required string Dataset { get; init; }
    public required string Machine { get; init; }
    public required string DateUtc { get; init; }
    public required int Count { get; init; }
    public required double Guidance { get; init; }
    public required long Seed { get; init; }
    public required string Precision { get; init; }
    public required int Threads { get; init; }
    public required int BatchSize { get; init; }
    public required IReadOnlyList<string> ReferenceSamplers { get; init; }
    public required int ReferenceAbove { get; init; }
    public required string Features { get; init; }
    public required double ClassifierTestAccuracy { get; init; }

    /// <summary>FID of a real training subset against the real test subset, both of <see cref="Count"/> images: the
    /// floor that finite sample size alone puts under every FID here.</summary>
    public required double FloorFid { get; init; }

    public required List<SettingResult> Settings { get; init; }
    public TargetCheck? Target { get; init; }

    /// <summary>False while the sweep runs or after it was cancelled.</summary>
    public bool Complete { get; init; }

    public const string JsonFile = "quality.json";
    public const string FidPlotFile = "fid-vs-nfe.png";
    public const string AccuracyPlotFile = "accuracy-vs-nfe.png";

    /// <summary>The target at 10 NFE against the largest NFE measured, when both were measured.</summary>
    public static TargetCheck? CheckTarget(IReadOnlyList<SettingResult> settings, int lowNfe = 10)
    {
        if (settings.Count == 0) return null;
        int highNfe = settings.Max(s => s.Nfe);
        var low = settings.Where(s => s.Nfe == lowNfe && double.IsFinite(s.Fid)).MinBy(s => s.Fid);
        var high = settings.Where(s => s.Nfe == highNfe && double.IsFinite(s.Fid)).MinBy(s => s.Fid);
        if (low is null || high is null || highNfe <= lowNfe) return null;
        double ratio = low.Fid / high.Fid;
        return new TargetCheck(lowNfe, low.Sampler, low.Fid, highNfe, high.Sampler, high.Fid, ratio, ratio <= 1.10);
    }

    /// <summary>Writes quality.json and the two plots into <paramref name="directory"/>.</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        OptionsJson.Save(this, Path.Combine(directory, JsonFile));
        var samplers = Settings.Select(s => s.Sampler).Distinct().ToArray();
        if (Settings.Count == 0) return;
        double lowest = Settings.Min(s => s.Nfe), highest = Settings.Max(s => s.Nfe);
        var title = string.Create(CultureInfo.InvariantCulture, $"{Preset}: {Count} images, guidance {Guidance}");

        var fid = samplers.Select(name => Series(name, s => s.Fid)).ToList();
        fid.Add(new PlotSeries("floor (train vs test)", [lowest, highest], [FloorFid, FloorFid]) { Color = new Rgb24(150, 150, 150), Markers = false, Thickness = 1 });
        LinePlot.SavePng(fid, Path.Combine(directory, FidPlotFile),
            new LinePlotOptions { Title = "FID vs NFE - " + title, XLabel = "NFE (network evaluations per image)", YLabel = "FID (classifier features)", LogX = true, LogY = true, Width = 900, Height = 560 });

        if (Settings.Any(s => s.Accuracy is not null))
        {
            var accuracy = samplers.Select(name => Series(name, s => s.Accuracy ?? double.NaN)).ToList();
            accuracy.Add(new PlotSeries("classifier on test set", [lowest, highest], [ClassifierTestAccuracy, ClassifierTestAccuracy]) { Color = new Rgb24(150, 150, 150), Markers = false, Thickness = 1 });
            LinePlot.SavePng(accuracy, Path.Combine(directory, AccuracyPlotFile),
                new LinePlotOptions { Title = "Class accuracy vs NFE - " + title, XLabel = "NFE (network evaluations per image)", YLabel = "class accuracy", LogX = true, LegendCorner = PlotCorner.BottomRight, Width = 900, Height = 560 });
        }

        PlotSeries Series(string sampler, Func<SettingResult, double> value)
        {
            var points = Settings.Where(s => s.Sampler == sampler).OrderBy(s => s.Evaluations).ToArray();
            return new PlotSeries(sampler, points.Select(s => (double)s.Evaluations).ToArray(), points.Select(value).ToArray());
        }
    }

    /// <summary>A Markdown table of every setting, then the floor and the target.</summary>
    public string ToMarkdown()
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("| sampler | NFE | steps | evaluations | FID | class accuracy | sampling s |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var s in Settings.OrderBy(s => s.Nfe).ThenBy(s => s.Fid))
            sb.AppendLine(inv, $"| {s.Sampler} | {s.Nfe} | {s.Steps} | {s.Evaluations} | {s.Fid:F2} | {(s.Accuracy is double a ? (100 * a).ToString("F1", inv) + " %" : "—")} | {s.Seconds:F0} |");
        sb.AppendLine(inv, $"\nFloor (real train subset vs real test subset, {Count} each): FID {FloorFid:F2}.");
        if (Target is { } t)
            sb.AppendLine(inv, $"Target: best at {t.LowNfe} NFE {t.BestLowSampler} {t.BestLowFid:F2}, best at {t.HighNfe} NFE {t.BestHighSampler} {t.BestHighFid:F2}: ratio {t.Ratio:F3} ({(t.Met ? "met" : "not met")}, needs ≤ 1.10).");
        return sb.ToString();
    }
}
