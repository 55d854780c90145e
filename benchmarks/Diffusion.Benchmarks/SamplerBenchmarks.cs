using BenchmarkDotNet.Attributes;
using Diffusion.Core;
using Diffusion.Core.Conditioning;
using Diffusion.Core.Schedules;
using Diffusion.Core.Training;
using Diffusion.Models;
using Diffusion.Samplers;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Benchmarks;

/// <summary>One sampling run (a batch of 10 MNIST-sized images, one per class, guidance 3) per sampler and step
/// count on the `mnist` preset's UNet and schedule, in bf16 where the CPU computes it fast (else float32). Weights are
/// random: this measures time, not quality.</summary>
public class SamplerBenchmarks
{
    private UNet _unet = null!;
    private DenoiserView _view = null!;
    private Condition _condition = null!;

    /// <summary>Sampler name from the registry.</summary>
    [Params("ddim", "euler", "heun", "dpmpp_2m", "unipc")]
    public string Sampler { get; set; } = "ddim";

    /// <summary>Sampling steps.</summary>
    [Params(10, 50)]
    public int Steps { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        manual_seed(0);
        var preset = Diffusion.Pipelines.Presets.Get("mnist"); // the network and schedule the quality sweep measures
        _unet = new UNet(preset.Model);
        // bf16 only where the CPU computes it fast (it is 10-100x slower without AVX-512 BF16 / AMX).
        if (Precision.Auto.Resolve() == Precision.BFloat16) _unet.to(ScalarType.BFloat16);
        _unet.eval();
        var classes = new ClassConditioner(10);
        _condition = classes.Encode(Enumerable.Range(0, 10).ToArray(), CPU);
        _condition.Labels!.DetachFromDisposeScope();
        var schedule = new NoiseSchedule(preset.Schedule);
        _view = new DenoiserView(new ClassifierFreeGuidance(_unet, 3, classes), schedule);
    }

    [Benchmark]
    public float Sample()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(0, CPU);
        var x = SamplerRegistry.Create(Sampler).Sample(_view, new SamplingRequest { Shape = new long[] { 10, 1, 28, 28 }, Steps = Steps, Condition = _condition, Generator = g });
        return x.mean().item<float>();
    }

    [GlobalCleanup]
    public void Cleanup() => _unet.Dispose();
}
