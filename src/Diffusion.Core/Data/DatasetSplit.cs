namespace Diffusion.Core.Data;

/// <summary>Which part of a dataset to load.</summary>
public enum DatasetSplit
{
    /// <summary>The training images (MNIST: 60,000; CIFAR-10: 50,000).</summary>
    Train,
    /// <summary>The held-out test images (MNIST and CIFAR-10: 10,000).</summary>
    Test,
}
