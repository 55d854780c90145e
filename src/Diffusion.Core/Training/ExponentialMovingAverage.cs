using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Training;

/// <summary>
/// An exponential moving average of named float32 weights, with the usual warm-up of the decay
/// (decay_k = min(decay, (1 + k)/(10 + k))) so early averages are not dominated by the initialization.
/// </summary>
public sealed class ExponentialMovingAverage : IDisposable
{
    private readonly Dictionary<string, Tensor> _shadow = new();

    /// <summary>Starts the average at a copy of <paramref name="weights"/>.</summary>
    public ExponentialMovingAverage(IEnumerable<(string Name, Tensor Weight)> weights, double decay)
    {
        Decay = decay;
        foreach (var (name, w) in weights) _shadow[name] = w.detach().to(ScalarType.Float32).clone().DetachFromDisposeScope();
    }

    /// <summary>The target decay.</summary>
    public double Decay { get; }

    /// <summary>The averaged weights by name (live views; copy to keep).</summary>
    public IReadOnlyDictionary<string, Tensor> Weights => _shadow;

    /// <summary>Moves the average toward <paramref name="weights"/> after optimizer step number <paramref name="step"/> (0-based).</summary>
    public void Update(IEnumerable<(string Name, Tensor Weight)> weights, long step)
    {
        double d = Math.Min(Decay, (1.0 + step) / (10.0 + step));
        using var noGrad = no_grad();
        foreach (var (name, w) in weights) _shadow[name].lerp_(w, 1 - d);
    }

    /// <summary>Replaces the average by <paramref name="state"/> (as saved from <see cref="Weights"/>).</summary>
    /// <exception cref="DiffusionException">A name is missing or unexpected.</exception>
    public void Load(IReadOnlyDictionary<string, Tensor> state)
    {
        StateDicts.CheckNames(state.Keys, _shadow.Keys, "EMA weights");
        using var noGrad = no_grad();
        foreach (var (name, t) in _shadow) t.copy_(state[name]);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in _shadow.Values) t.Dispose();
        _shadow.Clear();
    }
}
