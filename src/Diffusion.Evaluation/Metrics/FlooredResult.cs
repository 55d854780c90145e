using Diffusion.Core;

namespace Diffusion.Evaluation;

/// <summary>
/// A metric result reported together with its floor: the same metric, with the same extractor and the same sample
/// counts, between two sets of real images (for FID, KID and precision/recall a train-split subset standing in for the
/// samples, against the same test images). FID and its relatives are biased by N and by the extractor, so a value
/// alone says little; the floor says what a perfect generator would score at this N.
/// </summary>
public sealed class FlooredResult : IMetricResult
{
    /// <summary>Pairs <paramref name="result"/> with <paramref name="floor"/>, value by value.</summary>
    /// <param name="result">The metric of the samples.</param>
    /// <param name="floor">The same metric between real image sets of the same sizes.</param>
    /// <exception cref="DiffusionException">The two list different metrics, extractors or counts.</exception>
    public FlooredResult(IMetricResult result, IMetricResult floor)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(floor);
        var values = result.Values;
        var floors = floor.Values;
        if (values.Count != floors.Count)
            throw new DiffusionException($"A floor must list the same metrics as its result ({values.Count} vs {floors.Count} values).");
        var paired = new MetricValue[values.Count];
        for (int i = 0; i < values.Count; i++)
        {
            var (v, f) = (values[i], floors[i]);
            if (v.Metric != f.Metric || v.Extractor != f.Extractor || v.ReferenceCount != f.ReferenceCount || v.SampleCount != f.SampleCount)
                throw new DiffusionException(
                    $"The floor of {v.Metric} ({v.Extractor}, N = {v.ReferenceCount} reference / {v.SampleCount} samples) was computed as {f.Metric} ({f.Extractor}, " +
                    $"N = {f.ReferenceCount} / {f.SampleCount}); a floor needs the same metric, extractor and counts.");
            paired[i] = v with { Floor = f.Value, FloorStd = f.Std };
        }
        Result = result;
        Floor = floor;
        Values = paired;
    }

    /// <summary>The metric of the samples.</summary>
    public IMetricResult Result { get; }

    /// <summary>The same metric between real image sets.</summary>
    public IMetricResult Floor { get; }

    /// <summary>The result's values, each with <see cref="MetricValue.Floor"/> set.</summary>
    public IReadOnlyList<MetricValue> Values { get; }
}
