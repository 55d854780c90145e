using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Diffusion.Core.Training;

/// <summary>
/// Gradient checkpointing (Chen et al. 2016, "Training deep nets with sublinear memory cost"): a segment of a network
/// runs its forward pass without keeping its intermediate activations, and runs it again during backward to get them.
/// Peak training memory then holds the segments' inputs instead of everything inside them, for about one extra forward
/// pass of compute. TorchSharp has no <c>torch.utils.checkpoint</c>; this builds it on TorchSharp's custom autograd
/// functions. The recomputation sees the same random numbers (the global generator's state is saved and restored, so
/// dropout masks repeat) and the same autocast state as the forward pass, so the gradients equal the plain ones.
/// </summary>
public static class GradientCheckpoint
{
    /// <summary>
    /// Runs <paramref name="segment"/> on <paramref name="inputs"/> checkpointed when gradients are being recorded, or
    /// plainly when they are not (inference, <c>no_grad</c>).
    /// </summary>
    /// <param name="segment">A pure function of its inputs and of <paramref name="parameters"/> (a block's forward). It runs
    /// again during backward, after the caller's dispose scopes have ended, so every tensor it reads must come through
    /// <paramref name="inputs"/> (which the checkpoint keeps), never be captured by the closure. It runs inside libtorch's
    /// backward callback: an exception there cannot travel back through native code and ends the process.</param>
    /// <param name="inputs">The segment's tensor inputs; those that require gradients get them.</param>
    /// <param name="parameters">Every parameter the segment reads; the trainable ones get their gradients through the
    /// checkpoint. A parameter left out would silently get no gradient.</param>
    /// <returns>The segment's output.</returns>
    public static Tensor Run(Func<IReadOnlyList<Tensor>, Tensor> segment, IReadOnlyList<Tensor> inputs, IEnumerable<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(segment);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(parameters);
        var trainable = parameters.Where(p => p.requires_grad).ToArray();
        if (!is_grad_enabled() || (trainable.Length == 0 && !inputs.Any(t => t.requires_grad))) return segment(inputs);
        var call = new Segment(segment, inputs.Select(t => t.requires_grad).ToArray(), trainable, Autocast.IsAvailable && Autocast.IsEnabled(inputs[0].device),
            inputs[0].device);
        var args = new object[1 + inputs.Count + trainable.Length];
        args[0] = call;
        for (int i = 0; i < inputs.Count; i++) args[1 + i] = inputs[i];
        for (int i = 0; i < trainable.Length; i++) args[1 + inputs.Count + i] = trainable[i];
        return CheckpointFunction.apply(args);
    }

    private sealed record Segment(Func<IReadOnlyList<Tensor>, Tensor> Body, bool[] InputNeedsGrad, Parameter[] Parameters, bool Autocast, Device Device);

    private sealed class RngState(byte[] bytes)
    {
        public byte[] Bytes { get; } = bytes;
    }

    private sealed class CheckpointFunction : autograd.SingleTensorFunction<CheckpointFunction>
    {
        public override string Name => "GradientCheckpoint";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var segment = (Segment)vars[0];
            var inputs = vars.Skip(1).Take(segment.InputNeedsGrad.Length).Cast<Tensor>().ToList();
            ctx.save_for_backward(inputs);
            ctx.save_data("segment", segment);
            using (var state = get_rng_state()) ctx.save_data("rng", new RngState(state.bytes.ToArray()));
            // Its own scope: nothing inside the segment outlives this call; only the output is kept.
            using var scope = NewDisposeScope();
            return segment.Body(inputs).MoveToOuterDisposeScope();
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            ReleaseHandedBack();
            var segment = (Segment)ctx.get_data("segment");
            var rng = (RngState)ctx.get_data("rng");
            var saved = ctx.get_saved_variables();
            var result = new List<Tensor> { null! }; // the segment argument has no gradient
            using (var scope = NewDisposeScope())
            {
                var inputs = saved.Select((t, i) => segment.InputNeedsGrad[i] ? t.detach().requires_grad_(true) : t.detach()).ToList();
                Tensor output;
                using (var current = get_rng_state())
                {
                    using (var replay = tensor(rng.Bytes)) set_rng_state(replay);
                    try
                    {
                        using var grad = enable_grad();
                        using var amp = segment.Autocast ? Autocast.Enter(segment.Device) : null;
                        output = segment.Body(inputs);
                    }
                    finally { set_rng_state(current); }
                }
                var wanted = inputs.Where((_, i) => segment.InputNeedsGrad[i]).Concat(segment.Parameters).ToList();
                var grads = autograd.grad([output], wanted, [gradOutput.to(output.dtype)], retain_graph: false, create_graph: false, allow_unused: true);
                int k = 0;
                for (int i = 0; i < inputs.Count; i++)
                    result.Add(segment.InputNeedsGrad[i] ? Keep(grads[k++]) : null!);
                foreach (var _ in segment.Parameters) result.Add(Keep(grads[k++]));
            }
            foreach (var t in saved) t.Dispose();
            gradOutput.Dispose(); // this call's handle only: libtorch keeps its own reference while it needs the tensor
            return result;
        }

        // A gradient handed back to libtorch must outlive this call (libtorch takes its own reference when the call
        // returns). Kept out of every dispose scope, since the step's scope would hold each segment's input gradient, an
        // activation-sized tensor, until the step ends: as much memory as checkpointing saves. Released at the next
        // segment's backward instead (or by ReleaseHandedBack after the backward pass).
        private static Tensor Keep(Tensor? g)
        {
            if (g is null || g.IsInvalid) return null!;
            g.DetachFromDisposeScope();
            HandedBack.Add(g);
            return g;
        }
    }

    [ThreadStatic] private static List<Tensor>? _handedBack;

    private static List<Tensor> HandedBack => _handedBack ??= [];

    /// <summary>Frees this thread's managed handles to the gradients the last checkpointed segment handed back to
    /// libtorch (libtorch holds its own references as long as it needs them). Called at every segment's backward; call it
    /// after a backward pass to free the last ones at once (the <see cref="Trainer"/> does).</summary>
    public static void ReleaseHandedBack()
    {
        if (_handedBack is not { Count: > 0 } list) return;
        foreach (var t in list) t.Dispose();
        list.Clear();
    }
}
