using Diffusion.Core;
using Diffusion.Core.Conditioning;
using Diffusion.Core.Schedules;
using Diffusion.Core.Training;
using Diffusion.Models;
using Diffusion.Samplers;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Pipelines;

/// <summary>A trained run loaded for sampling: its options, the EMA network, schedule and conditioner.</summary>
public sealed class TrainedModel : IDisposable
{
    private TrainedModel(RunOptions options, UNet network, NoiseSchedule schedule, ClassConditioner? conditioner)
    {
        Options = options; Network = network; Schedule = schedule; Conditioner = conditioner;
    }

    /// <summary>The run's options.</summary>
    public RunOptions Options { get; }

    /// <summary>The network with the EMA weights, in eval mode.</summary>
    public UNet Network { get; }

    /// <summary>The schedule the network was trained with.</summary>
    public NoiseSchedule Schedule { get; }

    /// <summary>The class conditioner, or null for an unconditional model.</summary>
    public ClassConditioner? Conditioner { get; }

    /// <summary>Loads run.json and the EMA weights of the latest checkpoint of <paramref name="runDirectory"/>.</summary>
    /// <param name="runDirectory">A folder written by 'diffusion train'.</param>
    /// <param name="precision">bf16 samples faster on CPUs with AVX-512 BF16 (and much slower without); float32 is
    /// exact; <see cref="Precision.Auto"/> (the default) picks bf16 only where the hardware computes it fast.</param>
    public static TrainedModel Load(string runDirectory, Precision precision = Precision.Auto)
    {
        var options = RunOptions.Load(runDirectory);
        var weights = Path.Combine(Trainer.CheckpointDirectory(runDirectory), Trainer.EmaFile);
        if (!File.Exists(weights))
            throw new DiffusionException($"Run '{runDirectory}' has no checkpoint yet ({weights} is missing); train it first.");
        var network = new UNet(options.Model);
        StateDicts.LoadInto(network, weights);
        return FromNetwork(options, network, precision);
    }

    /// <summary>Wraps an already-built network whose weights are loaded (converted to <paramref name="precision"/>).</summary>
    public static TrainedModel FromNetwork(RunOptions options, UNet network, Precision precision)
    {
        if (precision.Resolve() == Precision.BFloat16) network.to(ScalarType.BFloat16);
        network.eval();
        var conditioner = options.Model.NumClasses is int k ? new ClassConditioner(k) : null;
        return new TrainedModel(options, network, new NoiseSchedule(options.Schedule), conditioner);
    }

    /// <summary>The denoiser samplers should see: the network, with classifier-free guidance when a scale other than 1 is asked for.</summary>
    public DenoiserView View(double guidance, GuidanceOptions? guidanceOptions = null)
    {
        if (guidance < 0) throw new DiffusionException($"Guidance must be ≥ 0, got {guidance}.");
        IDenoiser d = Network;
        if (Conditioner is not null && (guidance != 1 || guidanceOptions is not null))
            d = new ClassifierFreeGuidance(Network, guidance, Conditioner, guidanceOptions);
        return new DenoiserView(d, Schedule, clipSample: 1.0); // data lie in [-1, 1]
    }

    /// <summary>Samples <paramref name="labels"/>.Count images (one per label; null labels for unconditional models) in batches.</summary>
    public Tensor Sample(ISampler sampler, IReadOnlyList<int>? labels, int count, int steps, double guidance, long seed,
        int batchSize = 250, Action<SamplingStep>? onStep = null, IProgress<SamplingProgress>? progress = null, CancellationToken ct = default,
        GuidanceOptions? guidanceOptions = null)
    {
        var m = Options.Model;
        var view = View(guidance, guidanceOptions);
        var parts = new List<Tensor>();
        using var generator = new Generator((ulong)seed, CPU);
        for (int start = 0; start < count; start += batchSize)
        {
            int n = Math.Min(batchSize, count - start);
            using var scope = NewDisposeScope();
            var condition = Conditioner is null || labels is null ? Condition.None
                : Conditioner.Encode(labels.Skip(start).Take(n).ToArray(), CPU);
            var request = new SamplingRequest
            {
                Shape = new long[] { n, m.InChannels, m.SampleSize, m.SampleSize },
                Steps = steps, Condition = condition, Generator = generator,
                OnStep = start == 0 ? onStep : null,
            };
            parts.Add(sampler.Sample(view, request, progress, ct).clamp(-1, 1).MoveToOuterDisposeScope());
        }
        var all = cat(parts, 0);
        foreach (var p in parts) p.Dispose();
        return all;
    }

    /// <inheritdoc />
    public void Dispose() => Network.Dispose();
}
