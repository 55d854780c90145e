namespace Diffusion.Evaluation;

/// <summary>
/// Frees the batch dimension of an ONNX model exported with a fixed batch of 1: rewrites dimension 0 of every graph
/// input, output and intermediate value description to the symbolic "N" and copies everything else byte for byte.
/// Only valid for graphs whose operators do not depend on the batch size (convolutions, batch norms, pooling,
/// element-wise ops, as in the ResNet18 featurizer); the caller checks that. Works on the protobuf wire format directly:
/// ModelProto.graph (7) → GraphProto.input / output / value_info (11 / 12 / 13) → ValueInfoProto.type (2) →
/// TypeProto.tensor_type (1) → shape (2) → first dim (1) → dim_param (2).
/// </summary>
internal static class OnnxBatchDimension
{
    private const int WireVarint = 0, WireFixed64 = 1, WireLength = 2, WireFixed32 = 5;

    /// <summary>The model with a free batch dimension, or null when the bytes are not a model of the expected form.</summary>
    public static byte[]? Free(byte[] model)
    {
        try
        {
            return Rewrite(model, 0, model.Length, field => field == 7 ? Graph : null);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static byte[] Graph(byte[] b, int start, int end)
        => Rewrite(b, start, end, field => field is 11 or 12 or 13 ? ValueInfo : null);

    private static byte[] ValueInfo(byte[] b, int start, int end) => Rewrite(b, start, end, field => field == 2 ? TypeProto : null);

    private static byte[] TypeProto(byte[] b, int start, int end) => Rewrite(b, start, end, field => field == 1 ? TensorType : null);

    private static byte[] TensorType(byte[] b, int start, int end) => Rewrite(b, start, end, field => field == 2 ? Shape : null);

    private static byte[] Shape(byte[] b, int start, int end)
    {
        bool first = true;
        return Rewrite(b, start, end, field =>
        {
            if (field != 1 || !first) return null;
            first = false;
            return (_, _, _) => FreeDimension;
        });
    }

    // Dimension { dim_param (2) = "N" }
    private static readonly byte[] FreeDimension = [(2 << 3) | WireLength, 1, (byte)'N'];

    /// <summary>Copies the fields of the message in b[start, end), replacing the payload of each length-delimited field
    /// for which <paramref name="rewrite"/> returns a function by that function's result.</summary>
    private static byte[] Rewrite(byte[] b, int start, int end, Func<int, Func<byte[], int, int, byte[]>?> rewrite)
    {
        using var output = new MemoryStream(end - start);
        int pos = start;
        while (pos < end)
        {
            int fieldStart = pos;
            ulong tag = ReadVarint(b, ref pos, end);
            int field = (int)(tag >> 3), wire = (int)(tag & 7);
            switch (wire)
            {
                case WireVarint: ReadVarint(b, ref pos, end); break;
                case WireFixed64: pos += 8; break;
                case WireFixed32: pos += 4; break;
                case WireLength:
                    ulong length = ReadVarint(b, ref pos, end);
                    if (length > (ulong)(end - pos)) throw new FormatException("length past the end of the message");
                    int payload = pos;
                    pos += (int)length;
                    if (rewrite(field) is { } inner)
                    {
                        var replaced = inner(b, payload, pos);
                        WriteVarint(output, tag);
                        WriteVarint(output, (ulong)replaced.Length);
                        output.Write(replaced);
                        continue;
                    }
                    break;
                default: throw new FormatException($"unsupported wire type {wire}");
            }
            if (pos > end) throw new FormatException("field past the end of the message");
            output.Write(b, fieldStart, pos - fieldStart);
        }
        return output.ToArray();
    }

    private static ulong ReadVarint(byte[] b, ref int pos, int end)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (pos >= end) throw new FormatException("truncated varint");
            byte x = b[pos++];
            value |= (ulong)(x & 0x7F) << shift;
            if ((x & 0x80) == 0) return value;
        }
        throw new FormatException("varint too long");
    }

    private static void WriteVarint(Stream s, ulong value)
    {
        while (value >= 0x80)
        {
            s.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        s.WriteByte((byte)value);
    }
}
