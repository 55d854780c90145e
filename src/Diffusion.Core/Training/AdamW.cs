using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Training;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter 2019, Algorithm 2) over named float32 tensors, with its state exposed
/// by name so checkpoints store it as safetensors and a resumed run continues exactly.
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly Dictionary<string, Tensor> _m = new();
    private readonly Dictionary<string, Tensor> _v = new();

    /// <summary>Creates the optimizer with the given hyper-parameters.</summary>
    public AdamW(double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8, double weightDecay = 0)
    {
        Beta1 = beta1; Beta2 = beta2; Epsilon = epsilon; WeightDecay = weightDecay;
    }

    /// <summary>First-moment decay.</summary>
    public double Beta1 { get; }
    /// <summary>Second-moment decay.</summary>
    public double Beta2 { get; }
    /// <summary>Denominator guard.</summary>
    public double Epsilon { get; }
    /// <summary>Decoupled weight decay.</summary>
    public double WeightDecay { get; }

    /// <summary>Optimizer steps taken (the bias-correction counter).</summary>
    public long Steps { get; private set; }

    /// <summary>Creates zeroed moment buffers for <paramref name="parameters"/> up front, so memory is allocated once
    /// at start rather than during the first step.</summary>
    public void Initialize(IEnumerable<(string Name, Tensor Param)> parameters)
    {
        foreach (var (name, p) in parameters)
        {
            if (_m.ContainsKey(name)) continue;
            _m[name] = zeros_like(p).DetachFromDisposeScope();
            _v[name] = zeros_like(p).DetachFromDisposeScope();
        }
    }

    /// <summary>Updates each parameter in place from its gradient.</summary>
    /// <param name="parameters">(name, float32 parameter, float32 gradient) triples; names must be stable across steps.</param>
    /// <param name="learningRate">The learning rate of this step.</param>
    public void Step(IEnumerable<(string Name, Tensor Param, Tensor Grad)> parameters, double learningRate)
    {
        Steps++;
        double bc1 = 1 - Math.Pow(Beta1, Steps), bc2 = 1 - Math.Pow(Beta2, Steps);
        using var noGrad = no_grad();
        foreach (var (name, p, g) in parameters)
        {
            if (!_m.TryGetValue(name, out var m))
            {
                _m[name] = m = zeros_like(p).DetachFromDisposeScope();
                _v[name] = zeros_like(p).DetachFromDisposeScope();
            }
            var v = _v[name];
            using var scope = NewDisposeScope();
            m.mul_(Beta1).add_(g, alpha: 1 - Beta1);
            v.mul_(Beta2).addcmul_(g, g, value: 1 - Beta2);
            if (WeightDecay > 0) p.mul_(1 - learningRate * WeightDecay);
            var denom = (v / bc2).sqrt_().add_(Epsilon);
            p.addcdiv_(m, denom, value: -learningRate / bc1);
        }
    }

    /// <summary>The state as named tensors: "m.NAME", "v.NAME" and "steps" (int64 scalar). Tensors are views of the live state.</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (k, t) in _m) d["m." + k] = t;
        foreach (var (k, t) in _v) d["v." + k] = t;
        d["steps"] = tensor(new[] { Steps });
        return d;
    }

    /// <summary>Restores the state saved by <see cref="StateDict"/>.</summary>
    /// <exception cref="DiffusionException">The state lacks "steps".</exception>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        if (!state.TryGetValue("steps", out var steps)) throw new DiffusionException("Optimizer state has no 'steps' entry.");
        Steps = steps.to(ScalarType.Int64).ToInt64();
        DisposeState();
        foreach (var (k, t) in state)
        {
            if (k.StartsWith("m.", StringComparison.Ordinal)) _m[k[2..]] = t.to(ScalarType.Float32).clone().DetachFromDisposeScope();
            else if (k.StartsWith("v.", StringComparison.Ordinal)) _v[k[2..]] = t.to(ScalarType.Float32).clone().DetachFromDisposeScope();
        }
    }

    private void DisposeState()
    {
        foreach (var t in _m.Values.Concat(_v.Values)) t.Dispose();
        _m.Clear(); _v.Clear();
    }

    /// <inheritdoc />
    public void Dispose() => DisposeState();
}
