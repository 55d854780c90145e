using static TorchSharp.torch;

namespace Diffusion.Core.Training;

/// <summary>One named tensor's place inside a flat buffer.</summary>
/// <param name="Name">The parameter name, e.g. "down_blocks.0.resnets.0.conv1.weight".</param>
/// <param name="Offset">First element in the flat buffer.</param>
/// <param name="Shape">The tensor's shape.</param>
public sealed record ParameterSegment(string Name, long Offset, long[] Shape)
{
    /// <summary>Number of elements.</summary>
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// Where each named parameter lives inside one contiguous 1-D buffer. Optimizer state, EMA and master
/// weights are kept flat so that one update is a handful of large tensor operations instead of several per
/// parameter (on a CPU each small operation pays a parallel-region start-up that dominates small tensors),
/// while checkpoints still see one tensor per name through <see cref="Views"/>.
/// </summary>
public sealed class ParameterLayout
{
    /// <summary>Lays out <paramref name="shapes"/> back to back in the given order.</summary>
    public ParameterLayout(IEnumerable<(string Name, long[] Shape)> shapes)
    {
        ArgumentNullException.ThrowIfNull(shapes);
        var segments = new List<ParameterSegment>();
        long offset = 0;
        foreach (var (name, shape) in shapes)
        {
            var s = new ParameterSegment(name, offset, shape);
            segments.Add(s);
            offset += s.Count;
        }
        if (segments.Select(s => s.Name).Distinct().Count() != segments.Count)
            throw new ArgumentException("Parameter names must be unique.", nameof(shapes));
        Segments = segments;
        Count = offset;
    }

    /// <summary>The segments in buffer order.</summary>
    public IReadOnlyList<ParameterSegment> Segments { get; }

    /// <summary>Total number of elements.</summary>
    public long Count { get; }

    /// <summary>The parameter names in buffer order.</summary>
    public IEnumerable<string> Names => Segments.Select(s => s.Name);

    /// <summary>A view of <paramref name="flat"/> shaped like segment <paramref name="segment"/>; writes go through to the buffer.</summary>
    public static Tensor View(Tensor flat, ParameterSegment segment)
    {
        ArgumentNullException.ThrowIfNull(flat);
        ArgumentNullException.ThrowIfNull(segment);
        return flat.narrow(0, segment.Offset, segment.Count).view(segment.Shape);
    }

    /// <summary>Named views of <paramref name="flat"/>, optionally with a key prefix (e.g. "m.").</summary>
    /// <exception cref="ArgumentException">The buffer does not have <see cref="Count"/> elements.</exception>
    public Dictionary<string, Tensor> Views(Tensor flat, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(flat);
        if (flat.dim() != 1 || flat.shape[0] != Count)
            throw new ArgumentException($"Expected a 1-D buffer of {Count} elements, got shape [{string.Join(", ", flat.shape)}].", nameof(flat));
        return Segments.ToDictionary(s => prefix + s.Name, s => View(flat, s));
    }

    /// <summary>Copies named tensors (keys = prefix + name) into <paramref name="flat"/>.</summary>
    /// <exception cref="DiffusionException">A name is missing or a shape differs; the message names <paramref name="source"/>.</exception>
    public void CopyInto(IReadOnlyDictionary<string, Tensor> state, Tensor flat, string source, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(state);
        using var noGrad = no_grad();
        foreach (var s in Segments)
        {
            if (!state.TryGetValue(prefix + s.Name, out var t))
                throw new DiffusionException($"{source}: missing tensor '{prefix + s.Name}'.");
            if (!t.shape.SequenceEqual(s.Shape))
                throw new DiffusionException($"{source}: tensor '{prefix + s.Name}' has shape [{string.Join(", ", t.shape)}], expected [{string.Join(", ", s.Shape)}].");
            using var view = View(flat, s);
            view.copy_(t);
        }
    }
}
