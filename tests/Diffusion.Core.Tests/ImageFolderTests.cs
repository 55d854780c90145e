using Diffusion.Core.Data;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Diffusion.Core.Tests;

[Collection(EnvironmentCollection.Name)]
public sealed class ImageFolderTests
{
    private readonly ITestOutputHelper _output;

    public ImageFolderTests(ITestOutputHelper output) => _output = output;

    private static readonly Rgb24 Red = new(255, 0, 0), Green = new(0, 200, 0), Blue = new(0, 0, 255);

    /// <summary>A 40×20 image: left quarter red, middle half <paramref name="middle"/>, right quarter blue.</summary>
    private static void WriteStriped(string path, Rgb24 middle)
    {
        using var img = new Image<Rgb24>(40, 20);
        for (int y = 0; y < 20; y++)
            for (int x = 0; x < 40; x++)
                img[x, y] = x < 10 ? Red : x < 30 ? middle : Blue;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        img.SaveAsPng(path);
    }

    [Fact]
    public void ClassesComeFromSubfoldersAndImagesAreCentreCropped()
    {
        using var dir = new TempDir();
        WriteStriped(Path.Combine(dir.Path, "dog", "b.png"), new Rgb24(10, 20, 30));
        WriteStriped(Path.Combine(dir.Path, "cat", "a.png"), Green);
        WriteStriped(Path.Combine(dir.Path, "cat", "nested", "c.png"), Green);
        File.WriteAllText(Path.Combine(dir.Path, "cat", "broken.jpg"), "this is not a JPEG");
        File.WriteAllText(Path.Combine(dir.Path, "cat", "notes.txt"), "ignored");
        Directory.CreateDirectory(Path.Combine(dir.Path, "empty"));

        var warnings = new List<string>();
        using var ds = ImageFolderDataset.Load(dir.Path, size: 10, warnings: new SyncProgress(warnings));
        Assert.Equal(new[] { "cat", "dog" }, ds.Classes);
        Assert.Equal(3, ds.Count);
        Assert.Equal(3, ds.Channels);
        Assert.Equal(10, ds.Size);
        Assert.Equal(new long[] { 0, 0, 1 }, ds.Labels.data<long>().ToArray());
        var broken = Assert.Single(warnings);
        Assert.Contains(Path.Combine(dir.Path, "cat", "broken.jpg"), broken);

        using var scope = NewDisposeScope();
        // The centre square of a 40×20 image is columns 10 … 29: the middle colour fills it (the bicubic
        // kernel lets the red and blue stripes bleed into the outermost columns only).
        byte[] Pixel(int i, int x) => Enumerable.Range(0, 3).Select(c => ds.Images[i, c, 5, x].item<byte>()).ToArray();
        foreach (int x in new[] { 3, 5, 6 }) Assert.Equal(new byte[] { 0, 200, 0 }, Pixel(0, x));
        Assert.Equal(new byte[] { 10, 20, 30 }, Pixel(2, 5));
    }

    [Fact]
    public void GrayscaleUsesLuma()
    {
        using var dir = new TempDir();
        WriteStriped(Path.Combine(dir.Path, "a.png"), Green);
        using var ds = ImageFolderDataset.Load(dir.Path, new ImageFolderOptions { Size = 8, Channels = 1, ClassFromSubfolder = false });
        Assert.Equal(1, ds.Channels);
        Assert.Equal(new[] { Path.GetFileName(dir.Path) }, ds.Classes);
        using var scope = NewDisposeScope();
        Assert.Equal((byte)Math.Round(0.587 * 200), ds.Images[0, 0, 4, 4].item<byte>());
    }

    [Fact]
    public void MixedSizesGrayscaleAndRgbaAreConverted()
    {
        using var dir = new TempDir();
        using (var gray = new Image<L8>(13, 9, new L8(77))) gray.SaveAsPng(Path.Combine(dir.Path, "a-gray.png"));
        using (var rgba = new Image<Rgba32>(30, 50, new Rgba32(10, 100, 200, 40))) rgba.SaveAsPng(Path.Combine(dir.Path, "b-rgba.png"));
        using (var small = new Image<Rgb24>(3, 3, new Rgb24(5, 6, 7))) small.SaveAsJpeg(Path.Combine(dir.Path, "c-small.jpg"));
        using var ds = ImageFolderDataset.Load(dir.Path, new ImageFolderOptions { Size = 6, ClassFromSubfolder = false });
        Assert.Equal(3, ds.Count);
        using var scope = NewDisposeScope();
        byte[] Pixel(int i) => Enumerable.Range(0, 3).Select(c => ds.Images[i, c, 3, 3].item<byte>()).ToArray();
        Assert.Equal(new byte[] { 77, 77, 77 }, Pixel(0));              // grayscale: the value in all three channels
        Assert.Equal(new byte[] { 10, 100, 200 }, Pixel(1));            // RGBA: colour kept, alpha dropped
        Assert.All(Pixel(2), v => Assert.InRange(v, (byte)0, (byte)20)); // 3×3 upscaled to 6×6 (JPEG shifts values slightly)
    }

    [Fact]
    public void EmptyOrMissingFoldersGiveClearErrors()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<DiffusionException>(() => ImageFolderDataset.Load(dir.Path, 8));
        Assert.Contains("holds no images", e.Message);
        Assert.Contains(dir.Path, e.Message);

        WriteStriped(Path.Combine(dir.Path, "flat.png"), Green);
        e = Assert.Throws<DiffusionException>(() => ImageFolderDataset.Load(dir.Path, 8));
        Assert.Contains("classFromSubfolder", e.Message);

        e = Assert.Throws<DiffusionException>(() => ImageFolderDataset.Load(Path.Combine(dir.Path, "nope"), 8));
        Assert.Contains("does not exist", e.Message);

        File.WriteAllText(Path.Combine(dir.Path, "flat.png"), "garbage");
        e = Assert.Throws<DiffusionException>(() => ImageFolderDataset.Load(dir.Path, 8, classFromSubfolder: false));
        Assert.Contains("could be decoded", e.Message);
    }

    [Fact]
    public void LoadsRealCifarJpegSubset()
    {
        string data = TestPaths.RequireSharedData();
        using var ds = Cifar10.Load(data, DatasetSplit.Test, maxImagesPerClass: 5);
        Assert.Equal(50, ds.Count);
        Assert.Equal(Cifar10.Classes, ds.Classes);
        Assert.Equal((3, 32), (ds.Channels, ds.Size));
        Assert.Equal(Enumerable.Range(0, 10).SelectMany(c => Enumerable.Repeat((long)c, 5)), ds.Labels.data<long>().ToArray());
        string keep = Environment.GetEnvironmentVariable("DIFFUSION_TEST_KEEP") ?? "";
        if (keep.Length > 0)
        {
            using var scope = NewDisposeScope();
            Diffusion.Core.Imaging.ImageGrid.SavePng(ds.Batch(arange(50L)).X, Path.Combine(keep, "cifar.png"), columns: 10, scale: 2);
        }
    }

    /// <summary>IProgress that records on the reporting thread (Progress&lt;T&gt; posts asynchronously).</summary>
    private sealed class SyncProgress(List<string> sink) : IProgress<string>
    {
        public void Report(string value) => sink.Add(value);
    }
}
