using Diffusion.Core;
using Diffusion.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Tests;

/// <summary>
/// A stand-in for a text conditioner: class k becomes a context of k + 1 real tokens of width <see cref="Dim"/> (fixed
/// seeded vectors), padded to the longest row of the batch and marked by a context mask. The unconditional condition
/// is a single padding token with no real token at all, so guidance batches contexts of different lengths and rows
/// the model must treat as "nothing said".
/// </summary>
internal sealed class ToyContextConditioner : IConditioner<int>, IDisposable
{
    private readonly Tensor _table; // (classes, classes, D): token j of class k

    public ToyContextConditioner(int classes, int dim, long seed = 11)
    {
        Classes = classes;
        Dim = dim;
        _table = randn(new long[] { classes, classes, dim }, generator: new Generator((ulong)seed, CPU)).DetachFromDisposeScope();
    }

    public int Classes { get; }

    public int Dim { get; }

    public Condition Encode(IReadOnlyList<int> inputs, Device device)
    {
        foreach (int k in inputs)
            if (k < 0 || k >= Classes) throw new DiffusionException($"Class {k} is out of range [0, {Classes - 1}].");
        long length = inputs.Max() + 1;
        var index = tensor(inputs.Select(k => (long)k).ToArray());
        var context = _table.index_select(0, index).narrow(1, 0, length); // (B, L, D)
        var mask = arange(length).unsqueeze(0).le(index.unsqueeze(1)); // (B, L): tokens 0 … k are real
        return new Condition { Context = (context * mask.unsqueeze(-1)).to(device), ContextMask = mask.to(device) };
    }

    public Condition Unconditional(int batch, Device device) => new()
    {
        Context = zeros(new long[] { batch, 1, Dim }, device: device),
        ContextMask = zeros(new long[] { batch, 1 }, dtype: ScalarType.Bool, device: device),
    };

    public Condition Unconditional(Condition conditional)
    {
        ArgumentNullException.ThrowIfNull(conditional);
        var b = conditional.BatchSize ?? throw new DiffusionException("An empty condition has no rows to make unconditional.");
        var context = conditional.Require(Condition.Fields.Context, "The toy context conditioner");
        return conditional.With(Condition.Fields.Context, zeros(new long[] { b, 1, Dim }, dtype: context.dtype, device: context.device))
            .With(Condition.Fields.ContextMask, zeros(new long[] { b, 1 }, dtype: ScalarType.Bool, device: context.device));
    }

    public Condition EncodeBatch(TrainingBatch batch, Device device)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var labels = batch.Labels ?? throw new DiffusionException("The toy context conditioner needs labelled batches.");
        return Encode(labels.data<long>().Select(l => (int)l).ToArray(), device);
    }

    public Condition DropForTraining(Condition condition, double probability, Generator generator)
        => ConditionDropout.Drop(this, condition, probability, generator);

    /// <summary>Frees the token table (a pipeline disposes its conditioner).</summary>
    public void Dispose() => _table.Dispose();
}
