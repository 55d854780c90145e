using System.Diagnostics;
using Diffusion.Core.Data;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Diffusion.Core.Tests;

[Collection(EnvironmentCollection.Name)]
public sealed class IdxDatasetTests
{
    private readonly ITestOutputHelper _output;

    public IdxDatasetTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void MissingFilesWithoutDownloadGiveOneErrorListingThem()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<DiffusionException>(() => IdxDatasets.Load("mnist", dir.Path, DatasetSplit.Train, DownloadOptions.Disabled));
        Assert.Contains("train-images-idx3-ubyte.gz", e.Message);
        Assert.Contains("train-labels-idx1-ubyte.gz", e.Message);
        Assert.Contains(Path.Combine(dir.Path, "mnist"), e.Message);
        Assert.Contains("--data-dir", e.Message);
        Assert.Contains("DIFFUSION_DATA", e.Message);
        Assert.Contains("disabled", e.Message);
    }

    [Fact]
    public void UnreachableMirrorFailsFastWithOneError()
    {
        using var dir = new TempDir();
        var download = new DownloadOptions { Mirrors = new[] { "http://127.0.0.1:9/mnist" }, Timeout = TimeSpan.FromSeconds(2) };
        var watch = Stopwatch.StartNew();
        var e = Assert.Throws<DiffusionException>(() => IdxDatasets.Load("fashion-mnist", dir.Path, DatasetSplit.Test, download));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
        Assert.Contains("t10k-images-idx3-ubyte.gz", e.Message);
        Assert.Contains("t10k-labels-idx1-ubyte.gz", e.Message);
        Assert.Contains("http://127.0.0.1:9/mnist/t10k-images-idx3-ubyte.gz", e.Message);
        Assert.Contains(Path.Combine(dir.Path, "fashion-mnist"), e.Message);
        Assert.Empty(Directory.EnumerateFiles(dir.Path, "*", SearchOption.AllDirectories)); // nothing half-written
    }

    [Fact]
    public void UnknownNameListsKnownOnes()
    {
        var e = Assert.Throws<DiffusionException>(() => IdxDatasets.Load("kmnist", "/tmp", DatasetSplit.Train, DownloadOptions.Disabled));
        Assert.Contains("mnist", e.Message);
        Assert.Contains("fashion-mnist", e.Message);
    }

    [Fact]
    public void WrongContentFailsChecksum()
    {
        using var dir = new TempDir();
        var fake = new IdxArray(IdxElementType.UInt8, new[] { 2, 28, 28 }, new byte[2 * 28 * 28]);
        IdxWriter.Write(Path.Combine(dir.Path, "mnist", "t10k-images-idx3-ubyte.gz"), fake, gzip: true);
        IdxWriter.Write(Path.Combine(dir.Path, "mnist", "t10k-labels-idx1-ubyte"), new IdxArray(IdxElementType.UInt8, new[] { 2 }, new byte[2]));
        var e = Assert.Throws<DiffusionException>(() => IdxDatasets.Load("mnist", dir.Path, DatasetSplit.Test, DownloadOptions.Disabled));
        Assert.Contains("md5", e.Message);
        Assert.Contains("2646ac647ad5339dbf082846283269ea", e.Message);
        Assert.Contains("t10k-images-idx3-ubyte.gz", e.Message);
    }

    [Fact]
    public void LoadsRealMnist()
    {
        string data = TestPaths.RequireSharedData();

        using var test = IdxDatasets.Mnist(data, DatasetSplit.Test, DownloadOptions.Disabled);
        Assert.Equal(10000, test.Count);
        Assert.Equal(1, test.Channels);
        Assert.Equal(28, test.Size);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => i.ToString()), test.Classes);
        Assert.Equal(new long[] { 7, 2, 1, 0, 4 }, test.Labels.narrow(0, 0, 5).data<long>().ToArray());
        using var counts = test.Labels.bincount(null, 10);
        Assert.Equal(new long[] { 980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009 }, counts.data<long>().ToArray()); // MNIST's published test-set class counts
        string keep = Environment.GetEnvironmentVariable("DIFFUSION_TEST_KEEP") ?? "";
        if (keep.Length > 0)
        {
            using var scope = NewDisposeScope();
            Diffusion.Core.Imaging.ImageGrid.SavePng(test.Batch(arange(32L)).X, Path.Combine(keep, "mnist.png"), columns: 8, scale: 2);
        }

        using var train = IdxDatasets.Load("MNIST", data, DatasetSplit.Train, DownloadOptions.Disabled);
        Assert.Equal(60000, train.Count);
        Assert.Equal(5, train.Labels[0].item<long>());
    }

    [Fact]
    public void LoadsRealFashionMnistFromTheFolderItself()
    {
        string data = TestPaths.RequireSharedData();

        using var test = IdxDatasets.FashionMnist(Path.Combine(data, "fashion-mnist"), DatasetSplit.Test, DownloadOptions.Disabled);
        Assert.Equal(10000, test.Count);
        Assert.Equal("T-shirt/top", test.Classes[0]);
        Assert.Equal("Ankle boot", test.Classes[9]);
        Assert.Equal(new long[] { 9, 2, 1, 1, 6 }, test.Labels.narrow(0, 0, 5).data<long>().ToArray());
    }

    [Fact]
    public void LoadsUncompressedFiles()
    {
        string data = TestPaths.RequireSharedData();

        using var dir = new TempDir();
        Directory.CreateDirectory(Path.Combine(dir.Path, "mnist"));
        foreach (var f in new[] { "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte" })
            File.WriteAllBytes(Path.Combine(dir.Path, "mnist", f), IdxReader.ReadContent(Path.Combine(data, "mnist", f + ".gz")));

        using var test = IdxDatasets.Mnist(dir.Path, DatasetSplit.Test, DownloadOptions.Disabled);
        Assert.Equal(10000, test.Count);
        using var gz = IdxDatasets.Mnist(data, DatasetSplit.Test, DownloadOptions.Disabled);
        Assert.True(TensorAssert.Same(test.Images, gz.Images));
    }

    [Fact]
    public void EnvironmentVariableSuppliesTheDataDirectory()
    {
        string data = TestPaths.RequireSharedData();

        string? saved = Environment.GetEnvironmentVariable(DataDirectory.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(DataDirectory.EnvironmentVariable, data);
            using var test = IdxDatasets.Mnist(null, DatasetSplit.Test, DownloadOptions.Disabled);
            Assert.Equal(10000, test.Count);
        }
        finally
        {
            Environment.SetEnvironmentVariable(DataDirectory.EnvironmentVariable, saved);
        }
    }

    [Fact]
    public void DataDirectoryPrecedence()
    {
        string? saved = Environment.GetEnvironmentVariable(DataDirectory.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(DataDirectory.EnvironmentVariable, "/from/env");
            Assert.Equal("/explicit", DataDirectory.Resolve("/explicit"));
            Assert.Equal("/from/env", DataDirectory.Resolve(null));
            Assert.Equal("/from/env", DataDirectory.Resolve("  "));
            Environment.SetEnvironmentVariable(DataDirectory.EnvironmentVariable, null);
            Assert.Equal(Path.GetFullPath("data"), DataDirectory.Resolve(null));
        }
        finally
        {
            Environment.SetEnvironmentVariable(DataDirectory.EnvironmentVariable, saved);
        }
    }
}
