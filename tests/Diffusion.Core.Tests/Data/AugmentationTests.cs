using Diffusion.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Tests.Data;

public sealed class AugmentationTests
{
    /// <summary>A seeded batch of 6 RGB 16×16 images in [−1, 1], with the extremes present.</summary>
    private static Tensor Batch()
    {
        using var g = new Generator(11, CPU);
        var x = rand(new long[] { 6, 3, 16, 16 }, generator: g) * 2 - 1;
        x[0, 0, 0, 0] = tensor(-1f);
        x[0, 0, 0, 1] = tensor(1f);
        return x;
    }

    public static TheoryData<string> Each => new() { "flip", "crop", "crop-ratio", "jitter", "all" };

    private static AugmentationOptions Options(string name) => name switch
    {
        "flip" => new AugmentationOptions { HorizontalFlip = true },
        "crop" => new AugmentationOptions { CropMinScale = 0.5 },
        "crop-ratio" => new AugmentationOptions { CropMinScale = 0.3, CropMaxRatio = 4.0 / 3 },
        "jitter" => new AugmentationOptions { Brightness = 0.2, Contrast = 0.2, Saturation = 0.2 },
        _ => new AugmentationOptions { HorizontalFlip = true, CropMinScale = 0.6, Brightness = 0.1, Contrast = 0.1, Saturation = 0.1 },
    };

    [Theory]
    [MemberData(nameof(Each))]
    public void KeepsShapeDtypeAndRangeAndChangesTheImages(string name)
    {
        using var scope = NewDisposeScope();
        var x = Batch();
        using var g = new Generator(5, CPU);
        var y = Options(name).Build().Apply(x, g);
        Assert.Equal(x.shape, y.shape);
        Assert.Equal(x.dtype, y.dtype);
        Assert.True(y.min().item<float>() >= -1 - 1e-6 && y.max().item<float>() <= 1 + 1e-6, $"{name}: out of [-1, 1]");
        Assert.False(y.allclose(x), $"{name}: the batch did not change");
    }

    [Theory]
    [MemberData(nameof(Each))]
    public void TheSameSeedGivesTheSameBatchAndAnotherSeedAnother(string name)
    {
        using var scope = NewDisposeScope();
        var x = Batch();
        var augmentation = Options(name).Build();
        Tensor With(ulong seed) { using var g = new Generator(seed, CPU); return augmentation.Apply(x, g); }
        Assert.True(With(3).eq(With(3)).all().item<bool>());
        Assert.False(With(3).eq(With(4)).all().item<bool>());
    }

    /// <summary>The flip draws exactly what the dataset's (and formerly the trainer's) flip drew: runs that flipped before
    /// augmentation had its own type train the same weights.</summary>
    [Fact]
    public void FlipMatchesTheDatasetsSeededFlip()
    {
        using var scope = NewDisposeScope();
        var pixels = randint(0, 256, new long[] { 8, 3, 4, 4 }, dtype: ScalarType.Byte, generator: new Generator(2, CPU));
        using var ds = new ImageDataset(pixels, zeros(8, dtype: ScalarType.Int64), ["x"]);
        var idx = arange(8, dtype: ScalarType.Int64);
        var (flippedByDataset, _) = ds.Batch(idx, new Generator(9, CPU));
        var (plain, _) = ds.Batch(idx);
        var flipped = new HorizontalFlip().Apply(plain, new Generator(9, CPU));
        Assert.True(flipped.eq(flippedByDataset).all().item<bool>());
        // Each row is either itself or its mirror image.
        for (int i = 0; i < 8; i++)
            Assert.True(flipped[i].eq(plain[i]).all().item<bool>() || flipped[i].eq(plain[i].flip(2)).all().item<bool>());
    }

    [Fact]
    public void NothingSwitchedOnIsTheIdentityAndDrawsNothing()
    {
        using var scope = NewDisposeScope();
        var x = Batch();
        using var g = new Generator(1, CPU);
        using var before = g.get_state();
        var y = AugmentationOptions.None.Build().Apply(x, g);
        Assert.True(y.eq(x).all().item<bool>());
        using var after = g.get_state();
        Assert.True(before.eq(after).all().item<bool>());
        Assert.True(AugmentationOptions.None.IsNone);
        Assert.False(new AugmentationOptions { Contrast = 0.1 }.IsNone);
    }

    /// <summary>A crop keeping the whole area with ratio 1 samples the pixel centres exactly: the identity.</summary>
    [Fact]
    public void AFullSquareCropIsTheIdentity()
    {
        using var scope = NewDisposeScope();
        var x = Batch();
        var y = new RandomResizedCrop(1.0).Apply(x, new Generator(0, CPU));
        Assert.True(y.allclose(x, rtol: 0, atol: 1e-5));
    }

    /// <summary>A crop of half the side, on an image that is a horizontal ramp, gives a ramp of half the slope.</summary>
    [Fact]
    public void ACropZoomsIn()
    {
        using var scope = NewDisposeScope();
        var ramp = linspace(-1, 1, 16).reshape(1, 1, 1, 16).expand(4, 1, 16, 16).contiguous(); // (4, 1, 16, 16)
        var y = new RandomResizedCrop(0.25).Apply(ramp, new Generator(0, CPU));
        var slope = (y[.., 0, 8, 15] - y[.., 0, 8, 0]) / (ramp[.., 0, 8, 15] - ramp[.., 0, 8, 0]); // (4): the kept share of the side
        var s = slope.data<float>().ToArray();
        Assert.All(s, v => Assert.InRange(v, 0.5 * 15 / 16.0 - 1e-3, 1.0 + 1e-3));
        Assert.Contains(s, v => v < 0.99f);
    }

    [Fact]
    public void BrightnessOnlyScalesAndSaturationLeavesGreyAlone()
    {
        using var scope = NewDisposeScope();
        var grey = full(new long[] { 4, 3, 2, 2 }, 0.0f); // mid-grey in [-1, 1]
        var sat = new ColorJitter(0, 0, 0.5).Apply(grey, new Generator(0, CPU));
        Assert.True(sat.allclose(grey, atol: 1e-6));
        var bright = new ColorJitter(0.5, 0, 0).Apply(grey, new Generator(0, CPU)); // (x+1)/2 = 0.5 times beta in [0.5, 1.5]
        var v = ((bright[.., 0, 0, 0] + 1) / 2 / 0.5).data<float>().ToArray();
        Assert.All(v, f => Assert.InRange(f, 0.5f, 1.5f));
        Assert.True(v.Distinct().Count() > 1, "every image got the same brightness factor");
    }

    [Fact]
    public void OutOfRangeOptionsAreOneError()
    {
        Assert.Throws<DiffusionException>(() => new AugmentationOptions { CropMinScale = 0 }.Build());
        Assert.Throws<DiffusionException>(() => new AugmentationOptions { CropMinScale = 0.5, CropMaxRatio = 0.5 }.Build());
        var e = Assert.Throws<DiffusionException>(() => new AugmentationOptions { Brightness = 1.5 }.Build());
        Assert.Contains("Brightness", e.Message);
        Assert.Throws<DiffusionException>(() => new HorizontalFlip().Apply(zeros(3, 4), new Generator(0, CPU)));
    }
}
