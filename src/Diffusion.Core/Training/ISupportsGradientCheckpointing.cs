namespace Diffusion.Core.Training;

/// <summary>A network that can recompute its activations in backward instead of keeping them
/// (<see cref="GradientCheckpoint"/>); the <see cref="Trainer"/> switches it on for
/// <see cref="TrainingOptions.GradientCheckpointing"/>.</summary>
public interface ISupportsGradientCheckpointing
{
    /// <summary>Whether the network's blocks run checkpointed while gradients are recorded.</summary>
    bool GradientCheckpointing { get; set; }
}
