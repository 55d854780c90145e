using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Diffusion.Core.Training;

/// <summary>
/// Mixed precision without autocast: the network computes in <see cref="Precision.BFloat16"/> while this
/// type keeps float32 master copies that the optimizer updates and the EMA and checkpoints read
/// (Micikevicius et al. 2018, Sec. 3.1). bf16 has float32's exponent range, so no loss scaling is needed.
/// In <see cref="Precision.Float32"/> the masters are the parameters themselves.
/// </summary>
public sealed class MasterWeights : IDisposable
{
    private readonly List<(string Name, Parameter Compute, Tensor Master)> _entries = new();
    private readonly bool _separate;

    /// <summary>Converts <paramref name="network"/> to <paramref name="precision"/> and takes float32 masters of its trainable parameters.</summary>
    public MasterWeights(nn.Module network, Precision precision)
    {
        ArgumentNullException.ThrowIfNull(network);
        _separate = precision != Precision.Float32;
        var masters = network.named_parameters().Where(p => p.parameter.requires_grad)
            .ToDictionary(p => p.name, p => _separate ? p.parameter.detach().to(ScalarType.Float32).clone().DetachFromDisposeScope() : (Tensor)p.parameter);
        if (_separate) network.to(ScalarType.BFloat16);
        foreach (var (name, p) in network.named_parameters())
            if (masters.TryGetValue(name, out var m)) _entries.Add((name, p, m));
        Network = network;
    }

    /// <summary>The network being trained (in compute precision).</summary>
    public nn.Module Network { get; }

    /// <summary>The float32 master weights by parameter name.</summary>
    public IEnumerable<(string Name, Tensor Weight)> Masters => _entries.Select(e => (e.Name, e.Master));

    /// <summary>(name, master, float32 gradient) for the optimizer; gradient copies belong to the caller's dispose scope.</summary>
    public IEnumerable<(string Name, Tensor Param, Tensor Grad)> WithGradients()
    {
        foreach (var (name, p, m) in _entries)
        {
            var g = p.grad ?? throw new InvalidOperationException($"Parameter '{name}' received no gradient; is it used in forward?");
            yield return (name, m, _separate ? g.to(ScalarType.Float32) : g);
        }
    }

    /// <summary>Scales all gradients so their global L2 norm is at most <paramref name="maxNorm"/>; returns the norm before clipping.</summary>
    public double ClipGradients(double maxNorm)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var grads = _entries.Select(e => e.Compute.grad).Where(g => g is not null).Select(g => g!).ToList();
        var norm = stack(grads.Select(g => g.to(ScalarType.Float64).square().sum()).ToArray()).sum().sqrt().item<double>();
        if (norm > maxNorm)
            foreach (var g in grads) g.mul_(maxNorm / (norm + 1e-6));
        return norm;
    }

    /// <summary>Copies the masters into the compute parameters (after an optimizer step or a load).</summary>
    public void PushToNetwork()
    {
        if (!_separate) return;
        using var noGrad = no_grad();
        foreach (var (_, p, m) in _entries) p.copy_(m);
    }

    /// <summary>Clears the compute parameters' gradients.</summary>
    public void ZeroGradients()
    {
        foreach (var (_, p, _) in _entries)
            if (p.grad is { } g) g.zero_();
    }

    /// <summary>Loads masters from named tensors and pushes them to the network.</summary>
    /// <exception cref="DiffusionException">Names do not match.</exception>
    public void Load(IReadOnlyDictionary<string, Tensor> state, string source)
    {
        StateDicts.CheckNames(state.Keys, _entries.Select(e => e.Name), source);
        using (no_grad())
            foreach (var (name, _, m) in _entries) m.copy_(state[name]);
        PushToNetwork();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_separate) foreach (var e in _entries) e.Master.Dispose();
    }
}
