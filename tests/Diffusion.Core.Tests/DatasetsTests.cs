using Diffusion.Core.Data;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using static TorchSharp.torch;

namespace Diffusion.Core.Tests;

[Collection(EnvironmentCollection.Name)]
public sealed class DatasetsTests
{
    /// <summary>Writes <paramref name="count"/> uniform 8×8 PNGs whose red value is the file's index (000.png, 001.png, …).</summary>
    private static void WriteNumbered(string dir, int count, int first = 0)
    {
        Directory.CreateDirectory(dir);
        for (int i = first; i < first + count; i++)
        {
            using var img = new Image<Rgb24>(8, 8, new Rgb24((byte)i, 0, 0));
            img.SaveAsPng(Path.Combine(dir, $"{i:D3}.png"));
        }
    }

    private static long[] Reds(ImageDataset ds)
    {
        using var scope = NewDisposeScope();
        return ds.Images[.., 0, 0, 0].to(ScalarType.Int64).data<long>().ToArray();
    }

    [Fact]
    public void FlatFolderHoldsOutEveryTenthImageForTesting()
    {
        using var dir = new TempDir();
        WriteNumbered(dir.Path, 25);
        using var train = Datasets.Load(Datasets.FolderPrefix + dir.Path, null, DatasetSplit.Train, size: 8);
        using var test = Datasets.Load(Datasets.FolderPrefix + dir.Path, null, DatasetSplit.Test, size: 8);
        Assert.Equal(new long[] { 9, 19 }, Reds(test));                 // the 10th and 20th files
        Assert.Equal(23, train.Count);
        Assert.Empty(Reds(train).Intersect(Reds(test)));
        Assert.Equal(Enumerable.Range(0, 25).Select(i => (long)i), Reds(train).Concat(Reds(test)).Order());
        Assert.Single(train.Classes);                                    // flat folder: one class
    }

    [Fact]
    public void AnUnreadableFileDoesNotShiftTheHeldOutSplit()
    {
        using var dir = new TempDir();
        WriteNumbered(dir.Path, 20);
        File.WriteAllText(Path.Combine(dir.Path, "004.png"), "not a png");   // the 5th file, on the training side
        using var test = Datasets.Load(Datasets.FolderPrefix + dir.Path, null, DatasetSplit.Test, size: 8);
        using var train = Datasets.Load(Datasets.FolderPrefix + dir.Path, null, DatasetSplit.Train, size: 8);
        Assert.Equal(new long[] { 9, 19 }, Reds(test));                 // still the 10th and 20th files
        Assert.Equal(17, train.Count);                                   // 18 training files, one skipped
        Assert.DoesNotContain(4L, Reds(train));
    }

    [Fact]
    public void ClassSubfoldersBecomeLabelsAndTrainTestSubfoldersAreTheSplits()
    {
        using var dir = new TempDir();
        WriteNumbered(Path.Combine(dir.Path, "cats"), 10, first: 0);
        WriteNumbered(Path.Combine(dir.Path, "dogs"), 10, first: 100);
        using (var test = Datasets.Load(Datasets.FolderPrefix + dir.Path, null, DatasetSplit.Test, size: 8, channels: 3))
        {
            Assert.Equal(new[] { "cats", "dogs" }, test.Classes);
            Assert.Equal(new long[] { 9, 109 }, Reds(test));
            Assert.Equal(new long[] { 0, 1 }, test.Labels.data<long>().ToArray());
        }

        using var split = new TempDir();
        WriteNumbered(Path.Combine(split.Path, "train", "a"), 3);
        WriteNumbered(Path.Combine(split.Path, "train", "b"), 3, first: 50);
        WriteNumbered(Path.Combine(split.Path, "test", "a"), 1, first: 200);
        WriteNumbered(Path.Combine(split.Path, "test", "b"), 1, first: 210);
        using var tr = Datasets.LoadFolder(split.Path, DatasetSplit.Train, size: 4);
        using var te = Datasets.LoadFolder(split.Path, DatasetSplit.Test, size: 4);
        Assert.Equal(6, tr.Count);
        Assert.Equal(new long[] { 200, 210 }, Reds(te));
        Assert.Equal(4, te.Size);
    }

    [Fact]
    public void RelativeFolderNamesResolveAgainstTheDataDirectory()
    {
        using var dir = new TempDir();
        WriteNumbered(Path.Combine(dir.Path, "my faces"), 10);
        using var test = Datasets.Load("folder:my faces", dir.Path, DatasetSplit.Test, size: 8, channels: 1);
        Assert.Equal(1, test.Channels);
        Assert.Equal(1, test.Count);
        Assert.Equal("folder-my_faces", Datasets.Key("folder:my faces/"));
    }

    [Fact]
    public void BadNamesSizesAndMissingDataGiveOneClearMessage()
    {
        using var empty = new TempDir();
        var size = Assert.Throws<DiffusionException>(() => Datasets.Load("cifar10", empty.Path, DatasetSplit.Train, size: 64));
        Assert.Contains("32x32", size.Message);
        var celeba = Assert.Throws<DiffusionException>(() => Datasets.Load("celeba", empty.Path, DatasetSplit.Train));
        Assert.Contains(Path.Combine(empty.Path, "celeba-10k"), celeba.Message);
        Assert.Contains("--data-dir", celeba.Message);
        var noPath = Assert.Throws<DiffusionException>(() => Datasets.Load("folder:", empty.Path, DatasetSplit.Train));
        Assert.Contains("folder:<path>", noPath.Message);
        var missing = Assert.Throws<DiffusionException>(() => Datasets.Load("folder:nowhere", empty.Path, DatasetSplit.Train));
        Assert.Contains("does not exist", missing.Message);
        var unknown = Assert.Throws<DiffusionException>(() => Datasets.Load("imagenet", empty.Path, DatasetSplit.Train));
        Assert.Contains("imagenet", unknown.Message);

        WriteNumbered(Path.Combine(empty.Path, "few"), 5);
        var tooFew = Assert.Throws<DiffusionException>(() => Datasets.Load("folder:few", empty.Path, DatasetSplit.Test, size: 8));
        Assert.Contains("too few", tooFew.Message);
    }

    [Fact]
    public void KeysAreCanonicalNames()
    {
        Assert.Equal("fashion-mnist", Datasets.Key("fashion"));
        Assert.Equal("cifar10", Datasets.Key("CIFAR-10"));
        Assert.Equal("celeba", Datasets.Key("faces"));
        Assert.Equal("mnist", Datasets.Key("MNIST"));
    }

    [Fact]
    public void SharedCelebACropsLoadAt64Pixels()
    {
        var data = TestPaths.SharedData();
        if (data is null || !Directory.Exists(Path.Combine(data, "celeba-10k")))
        {
            Assert.Null(Environment.GetEnvironmentVariable("CI"));         // CI always provides the shared data
            return;
        }
        var dir = new TempDir();
        using (dir)
        {
            // Twenty real crops (89×109) through the same loader: centre-cropped to a square, resized to 64.
            var files = Directory.GetFiles(Path.Combine(data, "celeba-10k"), "*.jpg").Order(StringComparer.Ordinal).Take(20).ToArray();
            Directory.CreateDirectory(Path.Combine(dir.Path, "celeba-10k"));
            foreach (var f in files) File.Copy(f, Path.Combine(dir.Path, "celeba-10k", Path.GetFileName(f)));
            using var train = Datasets.Load("celeba", dir.Path, DatasetSplit.Train);
            Assert.Equal(18, train.Count);
            Assert.Equal(64, train.Size);
            Assert.Equal(3, train.Channels);
            using var scope = NewDisposeScope();
            var mean = train.Images.to(ScalarType.Float32).mean().item<float>();
            Assert.InRange(mean, 40f, 220f);                                // real photos, not blank frames
        }
    }
}
