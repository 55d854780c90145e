using Diffusion.Core.Schedules;

namespace Diffusion.Core.Components;

/// <summary>What a pipeline's <c>scheduler/scheduler_config.json</c> holds: the noise schedule, what the network
/// predicts and whether x0 predictions are clipped to the data range.</summary>
/// <param name="Schedule">The training noise schedule.</param>
/// <param name="Prediction">What the denoiser outputs (diffusers keeps <c>prediction_type</c> in the scheduler config).</param>
/// <param name="ClipSample">The bound x0 predictions are clamped to while sampling (1 for pixels in [−1, 1]), or null for none (latents).</param>
public sealed record SchedulerConfig(ScheduleOptions Schedule, Prediction Prediction, double? ClipSample)
{
    /// <summary>The file name inside the component folder, as diffusers names it.</summary>
    public const string FileName = "scheduler_config.json";

    /// <summary>The <c>_class_name</c> written: the schedule is diffusers' <c>DDPMScheduler</c> configuration (samplers are chosen at
    /// generation time, as diffusers users swap schedulers over the same config).</summary>
    public const string ClassName = "DDPMScheduler";

    /// <summary>Writes this config into <paramref name="folder"/>.</summary>
    public void Save(string folder)
    {
        var s = Schedule;
        var json = ComponentConfig.New(ClassName);
        json["num_train_timesteps"] = s.TrainSteps;
        json["beta_start"] = s.BetaStart;
        json["beta_end"] = s.BetaEnd;
        json["beta_schedule"] = s.Kind switch
        {
            BetaSchedule.Linear => "linear",
            BetaSchedule.Cosine => "squaredcos_cap_v2",
            BetaSchedule.Sigmoid => "sigmoid",
            _ => throw new DiffusionException($"Schedule {s.Kind} has no scheduler config name."),
        };
        json["rescale_betas_zero_snr"] = s.ZeroTerminalSnr;
        json["prediction_type"] = PredictionName(Prediction);
        json["clip_sample"] = ClipSample is not null;
        json["clip_sample_range"] = ClipSample ?? 1.0;
        json["variance_type"] = "fixed_small";
        json["trained_betas"] = null;
        json["thresholding"] = false;
        ComponentConfig.Write(json, Path.Combine(folder, FileName));
    }

    /// <summary>Reads the config in <paramref name="folder"/> strictly.</summary>
    /// <exception cref="DiffusionException">The file is missing, names another class, or has unsupported or unknown keys.</exception>
    public static SchedulerConfig Load(string folder)
    {
        // diffusers' other scheduler classes share these schedule settings; the sampler is chosen when generating.
        var c = ComponentConfig.Read(Path.Combine(folder, FileName), "scheduler", ClassName, "DDIMScheduler", "EulerDiscreteScheduler", "DPMSolverMultistepScheduler");
        var kind = c.String("beta_schedule") switch
        {
            null or "linear" => BetaSchedule.Linear,
            "squaredcos_cap_v2" => BetaSchedule.Cosine,
            "sigmoid" => BetaSchedule.Sigmoid,
            var other => throw new DiffusionException($"{c.Source}: beta_schedule '{other}' is not supported (supported: linear, squaredcos_cap_v2, sigmoid)."),
        };
        var d = new ScheduleOptions();
        var schedule = new ScheduleOptions
        {
            Kind = kind,
            TrainSteps = c.Int("num_train_timesteps") ?? 1000,
            BetaStart = c.Double("beta_start") ?? d.BetaStart,
            BetaEnd = c.Double("beta_end") ?? d.BetaEnd,
            ZeroTerminalSnr = c.Bool("rescale_betas_zero_snr") ?? false,
        };
        var prediction = c.String("prediction_type") switch
        {
            null or "epsilon" => Prediction.Epsilon,
            "v_prediction" => Prediction.V,
            "sample" => Prediction.Sample,
            var other => throw new DiffusionException($"{c.Source}: prediction_type '{other}' is not supported (supported: epsilon, v_prediction, sample)."),
        };
        bool clip = c.Bool("clip_sample") ?? false;
        double range = c.Double("clip_sample_range") ?? 1.0;
        c.Expect("trained_betas", (object?)null);
        c.Expect("thresholding", false);
        // Read for compatibility with diffusers' scheduler configs; the samplers take their own spacing and variance.
        c.Ignore("variance_type", "timestep_spacing", "steps_offset", "set_alpha_to_one", "sample_max_value", "dynamic_thresholding_ratio", "skip_prk_steps");
        c.EnsureAllRead();
        if (clip && !(range > 0)) throw new DiffusionException($"{c.Source}: clip_sample_range must be positive, got {range}.");
        _ = new NoiseSchedule(schedule); // validates the betas with the schedule's own message
        return new SchedulerConfig(schedule, prediction, clip ? range : null);
    }

    /// <summary>diffusers' name of a prediction type.</summary>
    public static string PredictionName(Prediction prediction) => prediction switch
    {
        Prediction.Epsilon => "epsilon",
        Prediction.V => "v_prediction",
        Prediction.Sample => "sample",
        _ => throw new DiffusionException($"Unknown prediction {prediction}."),
    };
}
