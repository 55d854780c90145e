namespace Diffusion.Core.Training;

/// <summary>One progress report of a training run (no tensors: it may be delivered on another thread).</summary>
/// <param name="Step">Optimizer steps done (across resumes).</param>
/// <param name="MaxSteps">The step budget, if any.</param>
/// <param name="Loss">Mean loss since the previous report.</param>
/// <param name="LearningRate">Current learning rate.</param>
/// <param name="ImagesPerSecond">Throughput since the previous report.</param>
/// <param name="Elapsed">Training time so far (across resumes).</param>
/// <param name="Remaining">Estimated time to the budget, when one is set.</param>
public sealed record TrainingProgress(int Step, int? MaxSteps, double Loss, double LearningRate, double ImagesPerSecond, TimeSpan Elapsed, TimeSpan? Remaining);

/// <summary>How a call to <see cref="Trainer.Run"/> ended.</summary>
/// <param name="Steps">Optimizer steps done in total (across resumes).</param>
/// <param name="FinalLoss">Mean loss over the last report window.</param>
/// <param name="Elapsed">Training time in total (across resumes).</param>
/// <param name="ImagesPerSecond">Mean throughput of this call.</param>
/// <param name="PeakWorkingSetBytes">Largest process working set seen during this call.</param>
/// <param name="Cancelled">True when the run stopped because of the cancellation token (a checkpoint was saved).</param>
public sealed record TrainingResult(int Steps, double FinalLoss, TimeSpan Elapsed, double ImagesPerSecond, long PeakWorkingSetBytes, bool Cancelled);

/// <summary>What is persisted of the trainer's own position, next to the weights.</summary>
public sealed record TrainerState
{
    /// <summary>Optimizer steps done.</summary>
    public int Step { get; init; }
    /// <summary>Training time so far in seconds.</summary>
    public double ElapsedSeconds { get; init; }
    /// <summary>Last reported mean loss.</summary>
    public double LastLoss { get; init; } = double.NaN;
    /// <summary>State of the random generator (timesteps, noise, label dropout, flips), base64.</summary>
    public string GeneratorState { get; init; } = "";
}
