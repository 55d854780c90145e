using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Diffusion.Core.Training;

/// <summary>
/// Mixed precision without autocast, with flat buffers. The network computes in <see cref="Precision.BFloat16"/>
/// while this type keeps float32 master copies that the optimizer updates and the EMA and checkpoints read
/// (Micikevicius et al. 2018, Sec. 3.1); bf16 has float32's exponent range, so no loss scaling is needed.
/// In <see cref="Precision.Float32"/> the masters are the parameters themselves.
/// <para>
/// Every trainable parameter is re-pointed at a slice of one contiguous compute buffer, and its gradient at a
/// slice of one contiguous gradient buffer (backward accumulates into an existing gradient in place), so
/// clipping, the optimizer update, the master → compute copy, zeroing and the EMA each take a few operations
/// on one large tensor instead of several per parameter.
/// </para>
/// </summary>
public sealed class MasterWeights : IDisposable
{
    private readonly List<Parameter> _parameters = new();
    private readonly Tensor _compute;
    private readonly Tensor _gradients;
    private readonly Tensor _master;
    private readonly bool _separate;

    /// <summary>Converts <paramref name="network"/> to bfloat16 when <paramref name="precision"/> resolves to BFloat16 (Float32
    /// and Autocast keep it float32), takes float32 masters of its
    /// trainable parameters and moves the parameters and their gradients into flat buffers.</summary>
    /// <remarks>Do not convert or move the network afterwards (<c>to(...)</c> would replace the parameters and
    /// detach them from the buffers).</remarks>
    public MasterWeights(nn.Module network, Precision precision)
    {
        ArgumentNullException.ThrowIfNull(network);
        _separate = precision.Resolve(network.parameters().FirstOrDefault()?.device) == Precision.BFloat16;
        Network = network;
        var trainable = network.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        Layout = new ParameterLayout(trainable.Select(p => (p.name, p.parameter.shape)));
        var device = trainable.Count > 0 ? trainable[0].parameter.device : CPU;
        using var noGrad = no_grad();
        _master = zeros(Layout.Count, ScalarType.Float32, device).DetachFromDisposeScope();
        foreach (var (segment, (_, p)) in Layout.Segments.Zip(trainable))
            using (var view = ParameterLayout.View(_master, segment)) view.copy_(p);
        if (_separate) network.to(ScalarType.BFloat16);
        var names = Layout.Names.ToHashSet();
        var byName = network.named_parameters().Where(p => names.Contains(p.name)).ToDictionary(p => p.name, p => p.parameter);
        var dtype = _separate ? ScalarType.BFloat16 : ScalarType.Float32;
        _compute = _separate ? _master.to(dtype).DetachFromDisposeScope() : _master;
        _gradients = zeros(Layout.Count, dtype, device).DetachFromDisposeScope();
        foreach (var segment in Layout.Segments)
        {
            var p = byName[segment.Name];
            using (var view = ParameterLayout.View(_compute, segment)) p.set_(view);
            p.grad = ParameterLayout.View(_gradients, segment);
            _parameters.Add(p);
        }
    }

    /// <summary>The network being trained (in compute precision).</summary>
    public nn.Module Network { get; }

    /// <summary>Where each parameter lives in the flat buffers.</summary>
    public ParameterLayout Layout { get; }

    /// <summary>All float32 master weights as one flat buffer (live).</summary>
    public Tensor Master => _master;

    /// <summary>The float32 master weights by parameter name (live views).</summary>
    public IEnumerable<(string Name, Tensor Weight)> Masters => Layout.Views(_master).Select(kv => (kv.Key, kv.Value));

    /// <summary>All gradients as one flat float32 tensor (a copy in mixed precision, the live buffer in float32),
    /// belonging to the caller's dispose scope. Fails if a parameter's gradient was replaced (e.g. set to null).</summary>
    /// <exception cref="InvalidOperationException">A parameter's gradient no longer lives in the flat buffer.</exception>
    public Tensor Gradients()
    {
        CheckGradientsAttached();
        return _separate ? _gradients.to(ScalarType.Float32) : _gradients.alias();
    }

    /// <summary>Scales <paramref name="gradients"/> (from <see cref="Gradients"/>) in place so their L2 norm is at most
    /// <paramref name="maxNorm"/>; returns the norm before clipping.</summary>
    public static double ClipGradients(Tensor gradients, double maxNorm)
    {
        ArgumentNullException.ThrowIfNull(gradients);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        double norm = gradients.to(ScalarType.Float64).norm().item<double>();
        if (norm > maxNorm) gradients.mul_(maxNorm / (norm + 1e-6));
        return norm;
    }

    /// <summary>Copies the masters into the compute parameters (after an optimizer step or a load).</summary>
    public void PushToNetwork()
    {
        if (!_separate) return;
        using var noGrad = no_grad();
        _compute.copy_(_master);
    }

    /// <summary>Clears all gradients (one operation on the flat buffer).</summary>
    public void ZeroGradients()
    {
        using var noGrad = no_grad();
        _gradients.zero_();
    }

    /// <summary>Loads masters from named tensors and pushes them to the network.</summary>
    /// <exception cref="DiffusionException">Names or shapes do not match.</exception>
    public void Load(IReadOnlyDictionary<string, Tensor> state, string source)
    {
        StateDicts.CheckNames(state.Keys, Layout.Names, source);
        Layout.CopyInto(state, _master, source);
        PushToNetwork();
    }

    private void CheckGradientsAttached()
    {
        using var scope = NewDisposeScope();
        for (int i = 0; i < _parameters.Count; i++)
        {
            var g = _parameters[i].grad;
            if (g is null || g.storage_offset() != Layout.Segments[i].Offset)
                throw new InvalidOperationException(
                    $"The gradient of '{Layout.Segments[i].Name}' no longer lives in the flat gradient buffer (was it set to null or replaced?).");
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _gradients.Dispose();
        if (_separate) _compute.Dispose();
        _master.Dispose();
    }
}
