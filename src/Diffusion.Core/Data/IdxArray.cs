using System.Buffers.Binary;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Data;

/// <summary>The element types the IDX format defines (the third byte of its magic number).</summary>
public enum IdxElementType : byte
{
    /// <summary>Unsigned byte (0x08), as in MNIST and Fashion-MNIST.</summary>
    UInt8 = 0x08,
    /// <summary>Signed byte (0x09).</summary>
    Int8 = 0x09,
    /// <summary>Big-endian 16-bit integer (0x0B).</summary>
    Int16 = 0x0B,
    /// <summary>Big-endian 32-bit integer (0x0C).</summary>
    Int32 = 0x0C,
    /// <summary>Big-endian 32-bit float (0x0D).</summary>
    Float32 = 0x0D,
    /// <summary>Big-endian 64-bit float (0x0E).</summary>
    Float64 = 0x0E,
}

/// <summary>
/// An n-dimensional array as stored in an IDX file (LeCun's MNIST format): element type, shape and the
/// elements in row-major order, big-endian as in the file.
/// </summary>
public sealed class IdxArray
{
    /// <summary>Wraps <paramref name="data"/> (big-endian elements, row-major) of the given type and shape.</summary>
    /// <param name="elementType">The element type.</param>
    /// <param name="shape">The dimensions, 1 to 255 of them, each at least 0.</param>
    /// <param name="data">Exactly prod(shape) elements; not copied.</param>
    /// <exception cref="DiffusionException">The shape is invalid or does not match the data length.</exception>
    public IdxArray(IdxElementType elementType, IReadOnlyList<int> shape, ReadOnlyMemory<byte> data)
    {
        int size = ElementSize(elementType);
        if (shape.Count is < 1 or > 255)
            throw new DiffusionException($"An IDX array needs 1 to 255 dimensions, got {shape.Count}.");
        if (shape.Any(d => d < 0))
            throw new DiffusionException($"IDX dimensions must be non-negative, got ({string.Join(", ", shape)}).");
        long expected = shape.Aggregate(1L, (p, d) => p * d) * size;
        if (expected != data.Length)
            throw new DiffusionException($"An IDX array of shape ({string.Join(", ", shape)}) and type {elementType} needs {expected} bytes, got {data.Length}.");
        ElementType = elementType;
        Shape = shape.ToArray();
        Data = data;
    }

    /// <summary>The element type.</summary>
    public IdxElementType ElementType { get; }

    /// <summary>The dimensions, outermost first (for MNIST images: count, rows, columns).</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>The elements, row-major, big-endian as stored in the file.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>The number of elements, prod(<see cref="Shape"/>).</summary>
    public long Length => Shape.Aggregate(1L, (p, d) => p * d);

    /// <summary>
    /// Copies the array into a new CPU tensor of the matching dtype (uint8, int8, int16, int32, float32,
    /// float64) and the same shape, converted to the machine's byte order. The caller owns the tensor.
    /// </summary>
    public Tensor ToTensor()
    {
        var dtype = ElementType switch
        {
            IdxElementType.UInt8 => ScalarType.Byte,
            IdxElementType.Int8 => ScalarType.Int8,
            IdxElementType.Int16 => ScalarType.Int16,
            IdxElementType.Int32 => ScalarType.Int32,
            IdxElementType.Float32 => ScalarType.Float32,
            _ => ScalarType.Float64,
        };
        var result = empty(Shape.Select(d => (long)d).ToArray(), dtype: dtype);
        var bytes = result.bytes;
        Data.Span.CopyTo(bytes);
        if (BitConverter.IsLittleEndian)
        {
            switch (ElementSize(ElementType))
            {
                case 2: BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, short>(bytes), MemoryMarshal.Cast<byte, short>(bytes)); break;
                case 4: BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, int>(bytes), MemoryMarshal.Cast<byte, int>(bytes)); break;
                case 8: BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, long>(bytes), MemoryMarshal.Cast<byte, long>(bytes)); break;
            }
        }
        return result;
    }

    /// <summary>Bytes per element of <paramref name="type"/>.</summary>
    /// <exception cref="DiffusionException"><paramref name="type"/> is not an IDX element type.</exception>
    public static int ElementSize(IdxElementType type) => type switch
    {
        IdxElementType.UInt8 or IdxElementType.Int8 => 1,
        IdxElementType.Int16 => 2,
        IdxElementType.Int32 or IdxElementType.Float32 => 4,
        IdxElementType.Float64 => 8,
        _ => throw new DiffusionException($"0x{(byte)type:X2} is not an IDX element type (valid: 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E)."),
    };
}
