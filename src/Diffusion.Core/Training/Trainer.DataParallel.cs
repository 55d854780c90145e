using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Training;

// The data-parallel side of the trainer (see the class remarks): who writes, which rows this process trains on, and
// the start-up broadcast of rank 0's state.
public sealed partial class Trainer
{
    /// <summary>The processes this trainer trains with (<see cref="SingleProcess"/> when alone).</summary>
    public IProcessGroup ProcessGroup => _group;

    /// <summary>The rows of every micro-batch this process trains on (the whole batch when alone).</summary>
    public BatchShard Shard => _shard;

    /// <summary>Rank 0 writes the run folder and reports; the other ranks only train.</summary>
    private bool IsWriter => _group.Rank == 0;

    /// <summary>Gives every rank rank 0's state: weights, EMA, optimizer moments and counters, step, clock and generator.</summary>
    private void BroadcastState()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        _group.Broadcast(_weights.Master);
        _weights.PushToNetwork();
        _group.Broadcast(_ema.Buffer);
        _group.Broadcast(_optimizer.FirstMoment);
        _group.Broadcast(_optimizer.SecondMoment);
        var counters = tensor(new long[] { Step, _optimizer.Steps });
        _group.Broadcast(counters);
        var clock = tensor(new[] { _elapsedBefore, _lastLoss });
        _group.Broadcast(clock);
        var generator = _generator.get_state().flatten();
        _group.Broadcast(generator);
        Step = (int)counters[0].ToInt64();
        _optimizer.Steps = counters[1].ToInt64();
        _elapsedBefore = clock[0].ToDouble();
        _lastLoss = clock[1].ToDouble();
        _generator.set_state(generator);
    }
}
