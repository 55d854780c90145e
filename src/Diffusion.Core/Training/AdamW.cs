using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Training;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter 2019, Algorithm 2) over one flat float32 parameter buffer laid out by a
/// <see cref="ParameterLayout"/>: an update is six operations on the whole model. Its state is exposed by
/// parameter name so checkpoints store it as safetensors and a resumed run continues exactly.
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly Tensor _m;
    private readonly Tensor _v;

    /// <summary>Creates the optimizer, with zeroed moments allocated once for <paramref name="layout"/>.</summary>
    public AdamW(ParameterLayout layout, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8, double weightDecay = 0, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(layout);
        Layout = layout;
        Beta1 = beta1; Beta2 = beta2; Epsilon = epsilon; WeightDecay = weightDecay;
        _m = zeros(layout.Count, ScalarType.Float32, device).DetachFromDisposeScope();
        _v = zeros(layout.Count, ScalarType.Float32, device).DetachFromDisposeScope();
    }

    /// <summary>Where each parameter lives in the flat buffers.</summary>
    public ParameterLayout Layout { get; }
    /// <summary>First-moment decay.</summary>
    public double Beta1 { get; }
    /// <summary>Second-moment decay.</summary>
    public double Beta2 { get; }
    /// <summary>Denominator guard.</summary>
    public double Epsilon { get; }
    /// <summary>Decoupled weight decay.</summary>
    public double WeightDecay { get; }

    /// <summary>Optimizer steps taken (the bias-correction counter).</summary>
    public long Steps { get; internal set; }

    /// <summary>The first moments (flat, live), for data-parallel state synchronisation.</summary>
    internal Tensor FirstMoment => _m;

    /// <summary>The second moments (flat, live).</summary>
    internal Tensor SecondMoment => _v;

    /// <summary>Updates <paramref name="parameters"/> in place from <paramref name="gradients"/> (both flat float32, laid out by <see cref="Layout"/>).</summary>
    public void Step(Tensor parameters, Tensor gradients, double learningRate)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(gradients);
        if (parameters.numel() != Layout.Count || gradients.numel() != Layout.Count)
            throw new ArgumentException($"Expected flat buffers of {Layout.Count} elements.");
        Steps++;
        double bc1 = 1 - Math.Pow(Beta1, Steps), bc2 = 1 - Math.Pow(Beta2, Steps);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        _m.lerp_(gradients, 1 - Beta1);
        _v.mul_(Beta2).addcmul_(gradients, gradients, value: 1 - Beta2);
        if (WeightDecay > 0) parameters.mul_(1 - learningRate * WeightDecay);
        var denom = _v.sqrt().div_(Math.Sqrt(bc2)).add_(Epsilon);
        parameters.addcdiv_(_m, denom, value: -learningRate / bc1);
    }

    /// <summary>The state as named tensors: "m.NAME", "v.NAME" and "steps" (int64 scalar). Tensors are views of the live state.</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var d = Layout.Views(_m, "m.");
        foreach (var (k, t) in Layout.Views(_v, "v.")) d[k] = t;
        d["steps"] = tensor(new[] { Steps });
        return d;
    }

    /// <summary>Restores the state saved by <see cref="StateDict"/>.</summary>
    /// <exception cref="DiffusionException">The state lacks "steps" or a moment, or a shape differs.</exception>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!state.TryGetValue("steps", out var steps)) throw new DiffusionException("Optimizer state has no 'steps' entry.");
        Layout.CopyInto(state, _m, "optimizer state", "m.");
        Layout.CopyInto(state, _v, "optimizer state", "v.");
        Steps = steps.to(ScalarType.Int64).ToInt64();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _m.Dispose();
        _v.Dispose();
    }
}
