using System.IO.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation.Tests;

/// <summary>A tiny private IDX (gzip) reader for the tests; the SDK's own loader lives in Diffusion.Core.Data.</summary>
internal static class MnistFiles
{
    public const string Directory = "/work/shared/data/mnist";

    public static bool Available => File.Exists(Path.Combine(Directory, "t10k-images-idx3-ubyte.gz"));

    /// <summary>Images as float32 (N, 1, 28, 28) in [−1, 1] and labels as int64 (N).</summary>
    public static (Tensor Images, Tensor Labels) Load(string split, int? limit = null)
    {
        var prefix = split == "train" ? "train" : "t10k";
        var images = ReadIdx(Path.Combine(Directory, $"{prefix}-images-idx3-ubyte.gz"), out var dims);
        var labels = ReadIdx(Path.Combine(Directory, $"{prefix}-labels-idx1-ubyte.gz"), out _);
        int n = limit is int l ? Math.Min(l, dims[0]) : dims[0];
        var x = tensor(images.AsSpan(0, n * dims[1] * dims[2]).ToArray(), ScalarType.Byte).reshape(n, 1, dims[1], dims[2]);
        var y = tensor(labels.AsSpan(0, n).ToArray(), ScalarType.Byte).to(ScalarType.Int64);
        using var scope = NewDisposeScope();
        return ((x.to(ScalarType.Float32) / 127.5 - 1.0).MoveToOuterDisposeScope(), y);
    }

    private static byte[] ReadIdx(string path, out int[] dims)
    {
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        var b = ms.ToArray();
        int rank = b[3];
        dims = new int[rank];
        for (int i = 0; i < rank; i++) dims[i] = (b[4 + 4 * i] << 24) | (b[5 + 4 * i] << 16) | (b[6 + 4 * i] << 8) | b[7 + 4 * i];
        return b[(4 + 4 * rank)..];
    }
}
