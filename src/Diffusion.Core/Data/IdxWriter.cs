using System.Buffers.Binary;
using System.IO.Compression;

namespace Diffusion.Core.Data;

/// <summary>Writes IDX files (see <see cref="IdxReader"/> for the format), raw or gzip-compressed, atomically.</summary>
public static class IdxWriter
{
    /// <summary>Writes <paramref name="array"/> to <paramref name="path"/>, replacing it atomically.</summary>
    /// <param name="path">The target file; its directory is created if needed.</param>
    /// <param name="array">The array to store.</param>
    /// <param name="gzip">Compress with gzip (as the MNIST downloads are).</param>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static void Write(string path, IdxArray array, bool gzip = false)
    {
        ArgumentNullException.ThrowIfNull(array);
        var header = new byte[4 + 4 * array.Shape.Count];
        header[2] = (byte)array.ElementType;
        header[3] = (byte)array.Shape.Count;
        for (int i = 0; i < array.Shape.Count; i++)
            BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4 + 4 * i), array.Shape[i]);

        AtomicFile.Write(path, tmp =>
        {
            using var stream = File.Create(tmp);
            if (gzip)
            {
                using var z = new GZipStream(stream, CompressionLevel.Optimal, leaveOpen: true);
                z.Write(header);
                z.Write(array.Data.Span);
            }
            else
            {
                stream.Write(header);
                stream.Write(array.Data.Span);
            }
        });
    }
}
