using System.Globalization;
using Diffusion.Core;

namespace Diffusion.Pipelines.Evaluation;

/// <summary>Reports each finished sampling batch (the sampler reports every step of the current batch, synchronously).</summary>
internal sealed class SamplingLog(IProgress<string> log, int total, int batch, string label) : IProgress<SamplingProgress>
{
    private int _batches;

    public void Report(SamplingProgress value)
    {
        if (value.Step != value.Total) return;
        _batches++;
        log.Report(string.Create(CultureInfo.InvariantCulture, $"{label}: sampled {Math.Min(total, _batches * batch)}/{total} images"));
    }
}
