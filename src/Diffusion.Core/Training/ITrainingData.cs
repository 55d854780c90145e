using static TorchSharp.torch;

namespace Diffusion.Core.Training;

/// <summary>What the trainer reads: a fixed-size collection it can fetch batches from by index.</summary>
public interface ITrainingData
{
    /// <summary>Number of examples.</summary>
    int Count { get; }

    /// <summary>The examples at <paramref name="indices"/> (int64, shape (B)): images as float32 (B, C, H, W)
    /// in [−1, 1] and their raw inputs (class labels, captions), on the CPU.</summary>
    TrainingBatch GetBatch(Tensor indices);
}
