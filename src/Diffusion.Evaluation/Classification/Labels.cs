using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>Validation of integer label tensors.</summary>
internal static class Labels
{
    /// <summary>Checks that <paramref name="labels"/> is an integer vector of length <paramref name="count"/>
    /// with values in 0 … <paramref name="classes"/>−1 and copies it to the host.</summary>
    public static long[] ToArray(Tensor labels, long count, int classes)
    {
        if (labels.dim() != 1 || labels.shape[0] != count)
            throw new DiffusionException($"Expected one label per image ({count}), got a label tensor of shape ({string.Join(", ", labels.shape)}).");
        if (labels.is_floating_point() || labels.dtype == ScalarType.Bool)
            throw new DiffusionException($"Labels must be an integer tensor (int64), got {labels.dtype}.");
        using var scope = NewDisposeScope();
        var values = labels.to(ScalarType.Int64).cpu().data<long>().ToArray();
        foreach (long v in values)
            if (v < 0 || v >= classes)
                throw new DiffusionException($"Label {v} is outside the classifier's classes 0 … {classes - 1}.");
        return values;
    }
}
