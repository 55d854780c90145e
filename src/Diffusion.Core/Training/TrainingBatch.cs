using static TorchSharp.torch;

namespace Diffusion.Core.Training;

/// <summary>A batch of raw training examples, on the CPU; the conditioner encodes the inputs inside the training step.</summary>
/// <param name="Images">Float32 (B, C, H, W) in [−1, 1].</param>
/// <param name="Labels">Class labels, int64 (B), or null for unlabelled data.</param>
/// <param name="Captions">One caption per image, or null.</param>
public sealed record TrainingBatch(Tensor Images, Tensor? Labels = null, IReadOnlyList<string>? Captions = null);
