using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Training;

/// <summary>
/// An exponential moving average of float32 weights kept in one flat buffer (see <see cref="ParameterLayout"/>),
/// with the usual warm-up of the decay (decay_k = min(decay, (1 + k)/(10 + k))) so early averages are not
/// dominated by the initialization.
/// </summary>
public sealed class ExponentialMovingAverage : IDisposable
{
    private readonly Tensor _shadow;

    /// <summary>Starts the average at a copy of <paramref name="weights"/>, a flat buffer laid out by <paramref name="layout"/>.</summary>
    public ExponentialMovingAverage(ParameterLayout layout, Tensor weights, double decay)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(weights);
        Layout = layout;
        Decay = decay;
        _shadow = weights.detach().to(ScalarType.Float32).clone().DetachFromDisposeScope();
        Weights = layout.Views(_shadow);
    }

    /// <summary>The averaged weights as one flat buffer (live), for data-parallel state synchronisation.</summary>
    internal Tensor Buffer => _shadow;

    /// <summary>The target decay.</summary>
    public double Decay { get; }

    /// <summary>Where each weight lives in the buffer.</summary>
    public ParameterLayout Layout { get; }

    /// <summary>The averaged weights by name (live views; copy to keep).</summary>
    public IReadOnlyDictionary<string, Tensor> Weights { get; }

    /// <summary>Moves the average toward <paramref name="weights"/> (flat, same layout) after optimizer step number
    /// <paramref name="step"/> (0-based).</summary>
    public void Update(Tensor weights, long step)
    {
        ArgumentNullException.ThrowIfNull(weights);
        double d = Math.Min(Decay, (1.0 + step) / (10.0 + step));
        using var noGrad = no_grad();
        _shadow.lerp_(weights, 1 - d);
    }

    /// <summary>Replaces the average by <paramref name="state"/> (as saved from <see cref="Weights"/>).</summary>
    /// <exception cref="DiffusionException">A name is missing or unexpected, or a shape differs.</exception>
    public void Load(IReadOnlyDictionary<string, Tensor> state)
    {
        StateDicts.CheckNames(state.Keys, Layout.Names, "EMA weights");
        Layout.CopyInto(state, _shadow, "EMA weights");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in Weights.Values) t.Dispose();
        _shadow.Dispose();
    }
}
