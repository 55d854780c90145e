using Diffusion.Core.Data;
using Diffusion.Core.Training;

namespace Diffusion.Pipelines.Tests;

public sealed class PresetAugmentationTests
{
    [Fact]
    public void TheFacesPresetFlipsThroughAugmentationAndDigitsDoNot()
    {
        Assert.True(Presets.Get("faces").Training.ResolvedAugmentation.HorizontalFlip);
        Assert.True(Presets.Get("cifar10").Training.ResolvedAugmentation.HorizontalFlip);
        Assert.True(Presets.Get("mnist").Training.ResolvedAugmentation.IsNone);
        // Run folders saved before AugmentationOptions existed said HorizontalFlip on the training options: still flips.
        Assert.Equal(new AugmentationOptions { HorizontalFlip = true }, new TrainingOptions { HorizontalFlip = true }.ResolvedAugmentation);
    }
}
