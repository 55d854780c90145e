using System.Buffers.Binary;
using System.Text.Json;
using Diffusion.Core;

namespace Diffusion.Text.Clip;

/// <summary>Reads the names and shapes in a safetensors file's header without loading any tensor (the format: an
/// 8-byte little-endian header length, then a JSON object of name → {dtype, shape, data_offsets}).</summary>
internal static class SafetensorsHeader
{
    public static Dictionary<string, long[]> Shapes(string path)
    {
        if (!File.Exists(path)) throw new DiffusionException($"Missing weights file '{path}'.");
        try
        {
            using var stream = File.OpenRead(path);
            Span<byte> lengthBytes = stackalloc byte[8];
            stream.ReadExactly(lengthBytes);
            long length = BinaryPrimitives.ReadInt64LittleEndian(lengthBytes);
            if (length <= 0 || length > 100_000_000 || length > stream.Length - 8)
                throw new DiffusionException($"'{path}' is not a safetensors file (header length {length}).");
            var header = new byte[length];
            stream.ReadExactly(header);
            using var doc = JsonDocument.Parse(header);
            var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
            foreach (var entry in doc.RootElement.EnumerateObject())
            {
                if (entry.Name == "__metadata__") continue;
                shapes[entry.Name] = entry.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            }
            return shapes;
        }
        catch (Exception e) when (e is IOException or JsonException or KeyNotFoundException or InvalidOperationException or EndOfStreamException)
        {
            throw new DiffusionException($"'{path}' is not a readable safetensors file (truncated or corrupted?): {e.Message}", e);
        }
    }
}
