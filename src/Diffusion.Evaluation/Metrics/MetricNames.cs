using Diffusion.Core;

namespace Diffusion.Evaluation;

/// <summary>The names by which a user asks for metrics (e.g. <c>--metrics fid,kid,is,pr,accuracy</c>).</summary>
public static class MetricNames
{
    /// <summary>Fréchet distance of features (<see cref="FrechetDistance"/>).</summary>
    public const string Fid = "fid";

    /// <summary>Kernel distance of features (<see cref="KernelInceptionDistance"/>).</summary>
    public const string Kid = "kid";

    /// <summary>Inception Score with the dataset's classifier (<see cref="InceptionScore"/>).</summary>
    public const string InceptionScore = "is";

    /// <summary>Precision, recall, density and coverage of features (<see cref="PrecisionRecall"/>).</summary>
    public const string PrecisionRecall = "pr";

    /// <summary>Class accuracy of class-conditional samples (<see cref="ClassAccuracy"/>).</summary>
    public const string Accuracy = "accuracy";

    /// <summary>Every known name, in the order reports list them.</summary>
    public static IReadOnlyList<string> All { get; } = [Fid, Kid, InceptionScore, PrecisionRecall, Accuracy];

    /// <summary>The metrics that compare sample features with reference features and so are reported with a floor.</summary>
    public static IReadOnlyList<string> FeatureMetrics { get; } = [Fid, Kid, PrecisionRecall];

    /// <summary>Parses a comma-separated list (case-insensitive, spaces ignored, duplicates dropped, order kept).</summary>
    /// <exception cref="DiffusionException">The list is empty or names an unknown metric; the message lists the valid ones.</exception>
    public static IReadOnlyList<string> Parse(string? list)
    {
        var names = (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(n => n.ToLowerInvariant()).Distinct().ToList();
        if (names.Count == 0) throw new DiffusionException($"No metric given. Valid: {string.Join(", ", All)}.");
        foreach (var n in names)
            if (!All.Contains(n)) throw new DiffusionException($"Unknown metric '{n}'. Valid: {string.Join(", ", All)}.");
        return names;
    }
}
