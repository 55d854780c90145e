using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>
/// Minimal safetensors reader and writer (an 8-byte little-endian header length, a JSON header naming
/// each tensor's dtype, shape and byte range, an optional "__metadata__" string map, then the raw bytes).
/// Used to check a weight file's tensor names before loading and to store feature statistics with their metadata.
/// </summary>
internal static class SafetensorsFile
{
    private const long MaxHeader = 100L << 20;

    /// <summary>One tensor's entry in the header.</summary>
    public sealed record Entry(string DType, long[] Shape, long Begin, long End);

    /// <summary>Reads the header: tensor entries, metadata, and where the data section starts.</summary>
    /// <exception cref="DiffusionException">The file is missing, truncated or not safetensors.</exception>
    public static (Dictionary<string, Entry> Tensors, Dictionary<string, string> Metadata, long DataStart) ReadHeader(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return ReadHeader(stream, path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or InvalidOperationException or FormatException)
        {
            throw new DiffusionException($"Cannot read safetensors file '{path}': {e.Message}. Delete it and recreate it.", e);
        }
    }

    /// <summary>Reads every tensor of the file into CPU tensors (owned by the caller's dispose scope).</summary>
    /// <exception cref="DiffusionException">The file is malformed or holds a dtype this reader does not know.</exception>
    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        var (entries, metadata, dataStart) = ReadHeader(path);
        var tensors = new Dictionary<string, Tensor>();
        using var stream = File.OpenRead(path);
        foreach (var (name, e) in entries)
        {
            var dtype = ToTorch(e.DType, path);
            long count = e.Shape.Aggregate(1L, (a, b) => a * b);
            long bytes = e.End - e.Begin;
            if (e.Begin < 0 || bytes != count * ElementSize(dtype) || dataStart + e.End > stream.Length || bytes > int.MaxValue)
                throw new DiffusionException($"Safetensors file '{path}' is corrupted: tensor '{name}' has an invalid byte range. Delete it and recreate it.");
            var buffer = new byte[bytes];
            stream.Position = dataStart + e.Begin;
            stream.ReadExactly(buffer);
            var t = empty(e.Shape, dtype);
            t.bytes = buffer;
            tensors[name] = t;
        }
        return (tensors, metadata);
    }

    /// <summary>Writes <paramref name="tensors"/> (moved to the CPU, made contiguous) and <paramref name="metadata"/> to <paramref name="path"/>.</summary>
    public static void Write(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        using var scope = NewDisposeScope();
        var header = new Dictionary<string, object> { ["__metadata__"] = metadata };
        var data = new List<byte[]>();
        long offset = 0;
        foreach (var (name, tensor) in tensors)
        {
            var bytes = tensor.cpu().contiguous().bytes.ToArray();
            header[name] = new Dictionary<string, object>
            {
                ["dtype"] = FromTorch(tensor.dtype),
                ["shape"] = tensor.shape,
                ["data_offsets"] = new[] { offset, offset + bytes.Length },
            };
            data.Add(bytes);
            offset += bytes.Length;
        }
        var json = JsonSerializer.SerializeToUtf8Bytes(header);
        using var stream = File.Create(path);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)json.Length);
        stream.Write(length);
        stream.Write(json);
        foreach (var bytes in data) stream.Write(bytes);
    }

    private static (Dictionary<string, Entry>, Dictionary<string, string>, long) ReadHeader(Stream stream, string path)
    {
        Span<byte> length = stackalloc byte[8];
        stream.ReadExactly(length);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(length);
        if (n == 0 || n > MaxHeader || (long)n + 8 > stream.Length)
            throw new DiffusionException($"'{path}' is not a safetensors file (header length {n}). Delete it and recreate it.");
        var json = new byte[n];
        stream.ReadExactly(json);
        using var doc = JsonDocument.Parse(json);
        var entries = new Dictionary<string, Entry>();
        var metadata = new Dictionary<string, string>();
        foreach (var property in doc.RootElement.EnumerateObject())
        {
            if (property.Name == "__metadata__")
            {
                foreach (var m in property.Value.EnumerateObject()) metadata[m.Name] = m.Value.GetString() ?? "";
                continue;
            }
            var v = property.Value;
            var offsets = v.GetProperty("data_offsets").EnumerateArray().Select(o => o.GetInt64()).ToArray();
            if (offsets.Length != 2)
                throw new DiffusionException($"Safetensors file '{path}' is corrupted: tensor '{property.Name}' has no valid data_offsets.");
            entries[property.Name] = new Entry(
                v.GetProperty("dtype").GetString() ?? "",
                v.GetProperty("shape").EnumerateArray().Select(s => s.GetInt64()).ToArray(),
                offsets[0], offsets[1]);
        }
        return (entries, metadata, 8 + (long)n);
    }

    private static string FromTorch(ScalarType t) => t switch
    {
        ScalarType.Float64 => "F64",
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Byte => "U8",
        _ => throw new DiffusionException($"Cannot store a {t} tensor in safetensors here."),
    };

    private static ScalarType ToTorch(string dtype, string path) => dtype switch
    {
        "F64" => ScalarType.Float64,
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "U8" => ScalarType.Byte,
        _ => throw new DiffusionException($"Safetensors file '{path}' holds an unsupported dtype '{dtype}'."),
    };

    private static long ElementSize(ScalarType t) => t switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 => 2,
        _ => 1,
    };
}
