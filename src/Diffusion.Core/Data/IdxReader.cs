using System.Buffers.Binary;
using System.IO.Compression;

namespace Diffusion.Core.Data;

/// <summary>
/// Reads IDX files, the format of MNIST and Fashion-MNIST: a 4-byte magic number (two zero bytes, the
/// element type, the number of dimensions), one big-endian int32 per dimension, then the elements.
/// Files may be gzip-compressed (recognised by their content, not their name).
/// </summary>
public static class IdxReader
{
    private const int MaxContentBytes = int.MaxValue - 64;

    /// <summary>Reads and parses the IDX file at <paramref name="path"/>.</summary>
    /// <param name="path">A raw or gzip-compressed IDX file.</param>
    /// <param name="cancellationToken">Checked while decompressing.</param>
    /// <exception cref="DiffusionException">The file is missing, unreadable, not IDX, truncated or has trailing bytes;
    /// the message names the file and the problem.</exception>
    public static IdxArray Read(string path, CancellationToken cancellationToken = default)
        => Parse(ReadContent(path, cancellationToken), path);

    /// <summary>
    /// The file's content, decompressed when it is gzip (first bytes 1F 8B). This is the content whose
    /// md5 the dataset checksums refer to.
    /// </summary>
    /// <param name="path">A raw or gzip-compressed file.</param>
    /// <param name="cancellationToken">Checked while decompressing.</param>
    /// <exception cref="DiffusionException">The file is missing or unreadable, or its gzip stream is corrupted.</exception>
    public static byte[] ReadContent(string path, CancellationToken cancellationToken = default)
    {
        byte[] raw;
        try { raw = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DiffusionException($"Cannot read '{path}': {e.Message}", e);
        }
        return Decode(raw, path, cancellationToken);
    }

    /// <summary>Decompresses <paramref name="raw"/> when it is gzip, else returns it as is.</summary>
    internal static byte[] Decode(byte[] raw, string source, CancellationToken cancellationToken)
    {
        if (raw.Length < 2 || raw[0] != 0x1F || raw[1] != 0x8B) return raw;
        try
        {
            using var gzip = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress);
            using var output = new MemoryStream(raw.Length * 4);
            var buffer = new byte[1 << 20];
            int n;
            while ((n = gzip.Read(buffer, 0, buffer.Length)) > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (output.Length + n > MaxContentBytes)
                    throw new DiffusionException($"'{source}' decompresses to more than 2 GB, which no IDX dataset this SDK reads has; the file is corrupted or not an IDX file.");
                output.Write(buffer, 0, n);
            }
            return output.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new DiffusionException($"'{source}' is not a valid gzip file (it is truncated or corrupted: {e.Message}). Delete it and download it again.", e);
        }
    }

    /// <summary>Parses IDX <paramref name="content"/> (uncompressed). The result refers to <paramref name="content"/> without copying.</summary>
    /// <param name="content">The whole uncompressed file.</param>
    /// <param name="source">The file name to put in error messages.</param>
    /// <exception cref="DiffusionException">The magic number is wrong, or the data is shorter or longer than the header says.</exception>
    public static IdxArray Parse(byte[] content, string source)
    {
        if (content.Length < 4)
            throw Corrupt(source, $"it is {content.Length} bytes long, too short for the 4-byte IDX magic number");
        if (content[0] != 0 || content[1] != 0 || !Enum.IsDefined((IdxElementType)content[2]) || content[3] == 0)
            throw Corrupt(source, $"its magic number {content[0]:X2} {content[1]:X2} {content[2]:X2} {content[3]:X2} is not an IDX header "
                + "(expected 00 00, a type byte 08/09/0B/0C/0D/0E, and a dimension count ≥ 1; e.g. 00 00 08 03 for MNIST images)");

        var type = (IdxElementType)content[2];
        int rank = content[3];
        int headerBytes = 4 + 4 * rank;
        if (content.Length < headerBytes)
            throw Corrupt(source, $"it is truncated inside the header ({content.Length} bytes, the header of a {rank}-dimensional array needs {headerBytes})");

        var shape = new int[rank];
        long count = 1;
        for (int i = 0; i < rank; i++)
        {
            int d = BinaryPrimitives.ReadInt32BigEndian(content.AsSpan(4 + 4 * i));
            if (d < 0) throw Corrupt(source, $"dimension {i} is negative ({d})");
            shape[i] = d;
            count *= d;
            if (count > MaxContentBytes) throw Corrupt(source, $"its header claims an array of shape ({string.Join(", ", shape.Take(i + 1))}, …), more than 2 GB");
        }

        long expected = count * IdxArray.ElementSize(type);
        long actual = content.Length - headerBytes;
        if (actual < expected)
            throw Corrupt(source, $"it is truncated: the header says shape ({string.Join(", ", shape)}) of {type}, {expected} bytes of data, but only {actual} are present");
        if (actual > expected)
            throw Corrupt(source, $"it has {actual - expected} unexpected bytes after the {expected} bytes of data its header (shape ({string.Join(", ", shape)}) of {type}) describes");
        return new IdxArray(type, shape, content.AsMemory(headerBytes));
    }

    private static DiffusionException Corrupt(string source, string what)
        => new($"IDX file '{source}' is corrupted: {what}. Delete it and download it again.");
}
