using Diffusion.Core;
using Diffusion.Core.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Samplers;

/// <summary>
/// What every sampler does the same way: request validation, the noise source, the start of the
/// (possibly truncated) schedule, and the per-step report. Shared so the sampler files hold only their
/// update rule.
/// </summary>
internal static class SamplingRun
{
    /// <summary>Checks what every sampler needs of a request.</summary>
    /// <exception cref="DiffusionException">The request is invalid.</exception>
    public static void Validate(DenoiserView denoiser, SamplingRequest request)
    {
        ArgumentNullException.ThrowIfNull(denoiser);
        ArgumentNullException.ThrowIfNull(request);
        var shape = request.Shape ?? Array.Empty<long>();
        if (shape.Length != 4 || shape.Any(d => d < 1))
            throw new DiffusionException($"The sample shape must be 4 positive dimensions (B, C, H, W), got ({string.Join(", ", shape)}).");
        if (request.Steps < 1)
            throw new DiffusionException($"Sampling steps must be at least 1, got {request.Steps}.");
        if (!(request.Strength > 0 && request.Strength <= 1))
            throw new DiffusionException($"Strength must be in (0, 1], got {request.Strength}.");
        if (request.Strength < 1 && request.InitImage is null)
            throw new DiffusionException($"Strength {request.Strength} < 1 needs an InitImage to start from; set InitImage or use Strength 1.");
        if (request.InitImage is { } init && !init.shape.SequenceEqual(shape))
            throw new DiffusionException($"The InitImage shape ({string.Join(", ", init.shape)}) does not match the sample shape ({string.Join(", ", shape)}).");
        if (request.InitialNoise is { } noise && !noise.shape.SequenceEqual(shape))
            throw new DiffusionException($"The InitialNoise shape ({string.Join(", ", noise.shape)}) does not match the sample shape ({string.Join(", ", shape)}).");
        if (request.InitialNoise is { } n && !n.is_floating_point())
            throw new DiffusionException($"InitialNoise must be floating point (standard normal noise), got {n.dtype}.");
    }

    /// <summary>The request's generator, or a fresh one seeded with 0.</summary>
    public static Generator GeneratorOf(SamplingRequest request) => request.Generator ?? Devices.Generator(0);

    /// <summary>The device to sample on.</summary>
    public static Device DeviceOf(SamplingRequest request) => request.Device ?? CPU;

    /// <summary>Standard normal noise of the sample shape, drawn from <paramref name="generator"/> on the CPU
    /// (so the same seed gives the same noise on every device), then moved to the sampling device.</summary>
    public static Tensor Noise(SamplingRequest request, Generator generator)
        => randn(request.Shape, dtype: ScalarType.Float32, generator: generator).to(DeviceOf(request));

    /// <summary>The noise the run starts from: <see cref="SamplingRequest.InitialNoise"/> when the caller gave it
    /// (then nothing is drawn from <paramref name="generator"/> for it), else <see cref="Noise"/>.</summary>
    public static Tensor StartNoise(SamplingRequest request, Generator generator)
        => request.InitialNoise is { } given ? given.to(ScalarType.Float32, DeviceOf(request)) : Noise(request, generator);

    /// <summary>How many of the schedule's <paramref name="steps"/> steps to run: all of them from pure noise,
    /// round(steps·Strength) (at least 1) from an init image.</summary>
    public static int StepsToRun(SamplingRequest request, int steps)
        => request.InitImage is null ? steps : Math.Clamp((int)Math.Round(steps * request.Strength), 1, steps);

    /// <summary>The init image as float32 on the sampling device.</summary>
    public static Tensor InitImage(SamplingRequest request)
        => request.InitImage!.to(ScalarType.Float32, DeviceOf(request));

    /// <summary>
    /// For the continuous-time solvers: the sigmas still to visit (n + 1 values, ending at 0) and the start
    /// sample in VE scaling, sigma_0·noise, or the init image plus sigma_0·noise.
    /// </summary>
    public static (double[] Sigmas, Tensor X) StartContinuous(DenoiserView denoiser, SamplingRequest request, SigmaScheduleOptions options, Generator generator)
    {
        var full = options.Build(denoiser.Scheduler, request.Steps);
        int total = full.Length - 1;
        int run = StepsToRun(request, total);
        var sigmas = full[(total - run)..];
        using var scope = NewDisposeScope();
        var noise = StartNoise(request, generator);
        var x = request.InitImage is null ? noise * sigmas[0] : InitImage(request) + noise * sigmas[0];
        return (sigmas, x.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// For the discrete VP samplers: the training timesteps still to visit (decreasing) and the start sample
    /// x_t, pure noise, or the init image noised to the first of them (Ho et al. 2020, Eq. 4).
    /// </summary>
    /// <exception cref="DiffusionException">Steps exceed the schedule's T.</exception>
    public static (int[] Timesteps, Tensor X) StartDiscrete(DenoiserView denoiser, SamplingRequest request, TimestepSpacing spacing, Generator generator)
    {
        var full = denoiser.Scheduler.Timesteps(request.Steps, spacing);
        int run = StepsToRun(request, full.Length);
        var timesteps = full[(full.Length - run)..];
        using var scope = NewDisposeScope();
        var noise = StartNoise(request, generator);
        if (request.InitImage is null) return (timesteps, (request.InitialNoise is null ? noise : noise.clone()).MoveToOuterDisposeScope());
        double alphaBar = denoiser.Scheduler.AlphaBars[timesteps[0]];
        var x = InitImage(request) * Math.Sqrt(alphaBar) + noise * Math.Sqrt(1 - alphaBar);
        return (timesteps, x.MoveToOuterDisposeScope());
    }

    /// <summary>Ends a step: lets <see cref="SamplingRequest.StepHook"/> replace the next sample (inpainting, RePaint),
    /// hands the step to <see cref="SamplingRequest.OnStep"/> (building the VP sample only if someone listens) and reports
    /// progress. Returns the sample to carry on with.</summary>
    /// <exception cref="DiffusionException">The hook returned a tensor of another shape.</exception>
    public static Tensor Step(SamplingRequest request, IProgress<SamplingProgress>? progress, int step, int total, Tensor next, NoiseLevel level, Tensor denoised)
    {
        if (request.StepHook is { } hook && hook(new SamplingHookStep(step, total, next, level, denoised)) is { } replaced)
        {
            if (!replaced.shape.SequenceEqual(next.shape))
                throw new DiffusionException($"The step hook returned shape ({string.Join(", ", replaced.shape)}); the sample has ({string.Join(", ", next.shape)}).");
            next = replaced.to(next.dtype, next.device);
        }
        if (request.OnStep is { } onStep) onStep(new SamplingStep(step, total, level.ToVp(next), denoised));
        progress?.Report(new SamplingProgress(step, total));
        return next;
    }

    /// <summary>Replaces a tensor carried across steps: disposes <paramref name="old"/> and moves
    /// <paramref name="next"/> out of the step's dispose scope.</summary>
    public static Tensor Carry(Tensor? old, Tensor next)
    {
        old?.Dispose();
        return next.MoveToOuterDisposeScope();
    }
}
