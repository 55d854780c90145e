namespace Diffusion.Evaluation;

/// <summary>Class accuracy as a report row: the fraction of samples recognised as their requested class, with the
/// judge's accuracy on real test images as the floor column (what perfect samples would score).</summary>
/// <param name="Accuracy">Accuracy on the samples, in [0, 1].</param>
/// <param name="SampleCount">Samples judged.</param>
/// <param name="RealAccuracy">The classifier's accuracy on real held-out images, in [0, 1].</param>
/// <param name="Extractor">The classifier's name.</param>
public sealed record ClassAccuracyMetric(double Accuracy, long SampleCount, double RealAccuracy, string Extractor) : IMetricResult
{
    /// <inheritdoc/>
    public IReadOnlyList<MetricValue> Values => [new MetricValue("class accuracy", Accuracy, null, 0, SampleCount, Extractor) { Floor = RealAccuracy }];
}
