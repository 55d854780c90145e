using Diffusion.Core;
using Diffusion.Core.Data;
using Diffusion.Text.Captions;
using static TorchSharp.torch;

namespace Diffusion.Text.Tests;

public sealed class CaptionTests
{
    public static TheoryData<string> DatasetNames => new() { "mnist", "fashion-mnist" };

    [Theory]
    [MemberData(nameof(DatasetNames))]
    public void HeldOutPhrasingsNeverAppearInTraining(string name)
    {
        var captions = LabelCaptions.For(name);
        Assert.Equal(10, captions.Classes);
        var allTraining = Enumerable.Range(0, 10).SelectMany(captions.TrainingPhrasings).ToHashSet();
        for (int c = 0; c < 10; c++)
        {
            Assert.True(captions.TrainingPhrasings(c).Count >= 10, $"class {c} has few phrasings");
            Assert.NotEmpty(captions.HeldOutPhrasings(c));
            Assert.All(captions.HeldOutPhrasings(c), h => Assert.DoesNotContain(h, allTraining));
            // Seeded draws over many examples hit only training phrasings and cover them all.
            var drawn = Enumerable.Range(0, 2000).Select(i => captions.Caption(c, seed: 5, example: i)).ToHashSet();
            Assert.Subset(captions.TrainingPhrasings(c).ToHashSet(), drawn);
            Assert.Equal(captions.TrainingPhrasings(c).Count, drawn.Count);
        }
    }

    [Fact]
    public void PhrasingsNameTheClass()
    {
        var mnist = LabelCaptions.Mnist;
        Assert.Contains("digit 7", mnist.TrainingPhrasings(7));
        Assert.Contains("the number seven", mnist.TrainingPhrasings(7));
        Assert.Contains("a handwritten 7", mnist.TrainingPhrasings(7));
        Assert.Contains("seven", mnist.TrainingPhrasings(7));
        Assert.All(mnist.TrainingPhrasings(3), p => Assert.True(p.Contains('3') || p.Contains("three"), p));
        var fashion = LabelCaptions.FashionMnist;
        Assert.Contains("a sneaker", fashion.TrainingPhrasings(7));
        Assert.Contains("a photo of a sandal", fashion.TrainingPhrasings(5));
        Assert.Contains("a close-up photo of an ankle boot", fashion.HeldOutPhrasings(9));
        Assert.Throws<DiffusionException>(() => mnist.TrainingPhrasings(10));
        Assert.Throws<DiffusionException>(() => LabelCaptions.For("cifar10"));
    }

    [Fact]
    public void CaptionsAreSeededPerExample()
    {
        var m = LabelCaptions.Mnist;
        Assert.Equal(m.Caption(4, 1, 17, 2), m.Caption(4, 1, 17, 2));
        var bySeed = Enumerable.Range(0, 50).Select(i => m.Caption(4, 1, i)).ToArray();
        Assert.NotEqual(bySeed, Enumerable.Range(0, 50).Select(i => m.Caption(4, 2, i)).ToArray());
        Assert.True(bySeed.Distinct().Count() > 5);
    }

    [Fact]
    public void CaptionedDatasetYieldsBatchesWithCaptionsOfTheLabel()
    {
        // A tiny labelled dataset built in memory: 20 images, labels 0–9 twice.
        var images = zeros(new long[] { 20, 1, 4, 4 }, dtype: ScalarType.Byte);
        var labels = arange(20, dtype: ScalarType.Int64).remainder(10);
        using var data = CaptionedImageDataset.FromLabels(new ImageDataset(images, labels, Enumerable.Range(0, 10).Select(i => $"{i}").ToArray()), LabelCaptions.Mnist, seed: 3);
        using var idx = tensor(new long[] { 3, 13, 7 });
        var batch = data.GetBatch(idx);
        Assert.Equal([3L, 1, 4, 4], batch.Images.shape);
        Assert.Equal([3L, 3, 7], batch.Labels!.data<long>().ToArray());
        Assert.Equal(3, batch.Captions!.Count);
        Assert.Contains(batch.Captions[0], LabelCaptions.Mnist.TrainingPhrasings(3));
        Assert.Contains(batch.Captions[2], LabelCaptions.Mnist.TrainingPhrasings(7));
        // The k-th fetch of an example gets draw k: the same sequence from a fresh dataset with the same seed.
        var second = data.GetBatch(idx).Captions!;
        Assert.Equal(data.CaptionFor(3, 0), batch.Captions[0]);
        Assert.Equal(data.CaptionFor(3, 1), second[0]);
        var many = Enumerable.Range(0, 30).Select(_ => data.GetBatch(idx).Captions![0]).ToHashSet();
        Assert.True(many.Count > 3, "captions change between epochs");
    }

    [Fact]
    public void CaptionsRealMnist()
    {
        string root = TestPaths.RequireSharedData();
        var test = IdxDatasets.Mnist(root, DatasetSplit.Test, DownloadOptions.Disabled);
        using var data = CaptionedImageDataset.FromLabels(test, LabelCaptions.Mnist, seed: 1);
        using var idx = arange(5, dtype: ScalarType.Int64);
        var batch = data.GetBatch(idx);
        long[] labels = [7, 2, 1, 0, 4];
        for (int i = 0; i < 5; i++) Assert.Contains(batch.Captions![i], LabelCaptions.Mnist.TrainingPhrasings((int)labels[i]));
    }

    [Fact]
    public void LoadsFlickrWithRealCaptions()
    {
        string root = TestPaths.RequireSharedData();
        using var data = Flickr8k.Load(root, DatasetSplit.Train, size: 16, maxImages: 30, seed: 2);
        Assert.Equal(27, data.Count); // every 10th of the first 30 is the test split
        Assert.Equal(3, data.Images.Channels);
        Assert.Equal(16, data.Images.Size);
        Assert.All(Enumerable.Range(0, data.Count), i => Assert.Equal(5, data.CaptionsOf(i).Count));
        Assert.Contains(data.CaptionsOf(0), c => c.StartsWith("A child in a pink dress", StringComparison.Ordinal));
        using var idx = tensor(new long[] { 0, 1 });
        var batch = data.GetBatch(idx);
        Assert.Contains(batch.Captions![0], data.CaptionsOf(0));
        Assert.Contains(batch.Captions[1], data.CaptionsOf(1));
        using var test = Flickr8k.Load(root, DatasetSplit.Test, size: 16, maxImages: 30);
        Assert.Equal(3, test.Count);
    }

    [Fact]
    public void FlickrErrorsNameTheMissingFile()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<DiffusionException>(() => Flickr8k.Load(dir));
        Assert.Contains("flickr8k-1k", e.Message);
        var folder = Directory.CreateDirectory(Path.Combine(dir, "flickr8k-1k")).FullName;
        Directory.CreateDirectory(Path.Combine(folder, "images"));
        e = Assert.Throws<DiffusionException>(() => Flickr8k.Load(dir));
        Assert.Contains(Path.Combine(folder, "captions.txt"), e.Message);
    }

    [Fact]
    public void ReadsQuotedCaptions()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("c.txt"), "image,caption\na.jpg,A dog .\na.jpg,\"A dog , with a \"\"ball\"\" .\"\nb.jpg,Two cats\n");
        var c = Flickr8k.ReadCaptions(dir.File("c.txt"));
        Assert.Equal(["A dog .", "A dog , with a \"ball\" ."], c["a.jpg"]);
        Assert.Equal(["Two cats"], c["b.jpg"]);
    }
}
