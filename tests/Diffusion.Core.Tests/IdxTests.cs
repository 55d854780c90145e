using System.Buffers.Binary;
using System.IO.Compression;
using Diffusion.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Tests;

public sealed class IdxTests
{
    private static IdxArray Bytes(int n, int rows, int cols, int seed = 1)
    {
        var data = new byte[n * rows * cols];
        new Random(seed).NextBytes(data);
        return new IdxArray(IdxElementType.UInt8, new[] { n, rows, cols }, data);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void UInt8RoundTrip(bool gzip)
    {
        using var dir = new TempDir();
        var original = Bytes(5, 4, 3);
        string path = dir.File(gzip ? "x-idx3-ubyte.gz" : "x-idx3-ubyte");
        IdxWriter.Write(path, original, gzip);

        var raw = File.ReadAllBytes(path);
        Assert.Equal(gzip, raw[0] == 0x1F && raw[1] == 0x8B);
        var read = IdxReader.Read(path);
        Assert.Equal(IdxElementType.UInt8, read.ElementType);
        Assert.Equal(new[] { 5, 4, 3 }, read.Shape);
        Assert.Equal(original.Data.ToArray(), read.Data.ToArray());
        Assert.Single(Directory.GetFiles(dir.Path)); // no temp file left behind

        using var t = read.ToTensor();
        Assert.Equal(new long[] { 5, 4, 3 }, t.shape);
        Assert.Equal(ScalarType.Byte, t.dtype);
        Assert.Equal(original.Data.ToArray(), t.bytes.ToArray());
    }

    [Fact]
    public void MultiByteTypesAreBigEndianOnDisk()
    {
        var data = new byte[3 * 4];
        int[] values = { 1, -2, 300000 };
        for (int i = 0; i < 3; i++) BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(4 * i), values[i]);
        var floats = new byte[2 * 4];
        BinaryPrimitives.WriteSingleBigEndian(floats, 1.5f);
        BinaryPrimitives.WriteSingleBigEndian(floats.AsSpan(4), -0.25f);

        using var dir = new TempDir();
        IdxWriter.Write(dir.File("i"), new IdxArray(IdxElementType.Int32, new[] { 3 }, data));
        IdxWriter.Write(dir.File("f"), new IdxArray(IdxElementType.Float32, new[] { 1, 2 }, floats));
        Assert.Equal(new byte[] { 0, 0, 0x0C, 1, 0, 0, 0, 3 }, File.ReadAllBytes(dir.File("i")).Take(8));

        using var ti = IdxReader.Read(dir.File("i")).ToTensor();
        using var tf = IdxReader.Read(dir.File("f")).ToTensor();
        Assert.Equal(values, ti.data<int>().ToArray());
        Assert.Equal(new[] { 1.5f, -0.25f }, tf.data<float>().ToArray());
    }

    [Fact]
    public void TruncatedFileNamesFileAndProblem()
    {
        using var dir = new TempDir();
        string path = dir.File("short-idx3-ubyte");
        IdxWriter.Write(path, Bytes(10, 28, 28));
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes.AsSpan(0, bytes.Length - 100).ToArray());

        var e = Assert.Throws<DiffusionException>(() => IdxReader.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
        Assert.Contains("7840", e.Message); // the data size the header promises
    }

    [Fact]
    public void TruncatedInsideHeader()
    {
        using var dir = new TempDir();
        string path = dir.File("tiny");
        File.WriteAllBytes(path, new byte[] { 0, 0, 8, 3, 0, 0 });
        var e = Assert.Throws<DiffusionException>(() => IdxReader.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("header", e.Message);
    }

    [Fact]
    public void TruncatedGzipNamesFile()
    {
        using var dir = new TempDir();
        string path = dir.File("cut.gz");
        IdxWriter.Write(path, Bytes(20, 28, 28), gzip: true);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes.AsSpan(0, bytes.Length / 2).ToArray());

        var e = Assert.Throws<DiffusionException>(() => IdxReader.Read(path));
        Assert.Contains(path, e.Message);
        Assert.True(e.Message.Contains("truncated") || e.Message.Contains("corrupted"), e.Message);
    }

    [Fact]
    public void CorruptedGzipNamesFile()
    {
        using var dir = new TempDir();
        string path = dir.File("bad.gz");
        IdxWriter.Write(path, Bytes(20, 28, 28), gzip: true);
        var bytes = File.ReadAllBytes(path);
        for (int i = 20; i < 60; i++) bytes[i] ^= 0x5A;
        File.WriteAllBytes(path, bytes);

        var e = Assert.Throws<DiffusionException>(() => IdxReader.Read(path));
        Assert.Contains(path, e.Message);
    }

    [Theory]
    [InlineData(new byte[] { 0x1A, 0, 8, 1 })]  // first byte not zero
    [InlineData(new byte[] { 0, 0, 0x07, 1 })]  // unknown type
    [InlineData(new byte[] { 0, 0, 8, 0 })]     // no dimensions
    public void WrongMagicIsRejected(byte[] magic)
    {
        using var dir = new TempDir();
        string path = dir.File("magic");
        File.WriteAllBytes(path, magic.Concat(new byte[] { 0, 0, 0, 2, 7, 9 }).ToArray());
        var e = Assert.Throws<DiffusionException>(() => IdxReader.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("magic number", e.Message);
    }

    [Fact]
    public void TrailingBytesAreRejected()
    {
        using var dir = new TempDir();
        string path = dir.File("long");
        IdxWriter.Write(path, Bytes(2, 2, 2));
        File.AppendAllText(path, "xyz");
        var e = Assert.Throws<DiffusionException>(() => IdxReader.Read(path));
        Assert.Contains("3 unexpected bytes", e.Message);
    }

    [Fact]
    public void MissingFileIsADiffusionException()
    {
        var e = Assert.Throws<DiffusionException>(() => IdxReader.Read("/nonexistent/dir/file-idx1-ubyte"));
        Assert.Contains("/nonexistent/dir/file-idx1-ubyte", e.Message);
    }

    [Fact]
    public void ArrayChecksLength()
    {
        Assert.Throws<DiffusionException>(() => new IdxArray(IdxElementType.Int16, new[] { 3 }, new byte[5]));
    }

    [Fact]
    public void ContentOfGzipIsDecompressed()
    {
        using var dir = new TempDir();
        string path = dir.File("plain.gz");
        using (var f = File.Create(path))
        using (var z = new GZipStream(f, CompressionLevel.Fastest))
            z.Write(new byte[] { 1, 2, 3 });
        Assert.Equal(new byte[] { 1, 2, 3 }, IdxReader.ReadContent(path));
    }
}
