using System.Buffers.Binary;
using System.Text;

namespace Diffusion.Core.Data;

/// <summary>
/// A deliberately small, safe reader for the Python pickles that hold numeric datasets such as
/// <c>cifar-10-batches-py</c>: dicts, lists, tuples, numbers, strings, bytes and numpy arrays. It runs
/// the pickle opcodes on its own stack and calls no code: the only "globals" it accepts are the numpy
/// array and dtype constructors and <c>_codecs.encode</c> (how protocol-2 pickles from Python 3 carry
/// bytes); any other global is rejected. Python 2 <c>str</c> values come back as <see cref="byte"/>[].
/// </summary>
internal sealed class PickleReader
{
    private static readonly object Mark = new();
    private readonly byte[] _data;
    private readonly string _source;
    private readonly List<object?> _stack = new();
    private readonly Dictionary<long, object?> _memo = new();
    private int _pos;

    private PickleReader(byte[] data, string source)
    {
        _data = data;
        _source = source;
    }

    /// <summary>A numpy array: dtype string (e.g. "|u1", "&lt;i8"), shape and the raw C-order bytes.</summary>
    public sealed class NumpyArray
    {
        /// <summary>The dtype as numpy spells it, e.g. "u1".</summary>
        public string DType { get; set; } = "";
        /// <summary>The dimensions.</summary>
        public long[] Shape { get; set; } = Array.Empty<long>();
        /// <summary>True for Fortran (column-major) order.</summary>
        public bool Fortran { get; set; }
        /// <summary>The elements' bytes.</summary>
        public byte[] Data { get; set; } = Array.Empty<byte>();
    }

    private sealed record NumpyDType(string Name);
    private sealed record Global(string Module, string Name);

    /// <summary>Parses <paramref name="data"/> and returns the top-level object.</summary>
    /// <exception cref="DiffusionException">The pickle is malformed or uses anything but the supported subset.</exception>
    public static object? Load(byte[] data, string source) => new PickleReader(data, source).Run();

    /// <summary>Latin-1 text of a Python 2 str (byte[]) or the string itself.</summary>
    public static string? AsText(object? value) => value switch
    {
        string s => s,
        byte[] b => Encoding.Latin1.GetString(b),
        _ => null,
    };

    private object? Run()
    {
        while (true)
        {
            byte op = ReadByte();
            switch (op)
            {
                case 0x80: ReadByte(); break;                                     // PROTO
                case 0x95: Take(8); break;                                        // FRAME
                case (byte)'.': return _stack.Count == 1 ? _stack[0] : throw Bad("the stack does not hold exactly one object at STOP");
                case (byte)'(': Push(Mark); break;                                // MARK
                case (byte)'0': Pop(); break;                                     // POP
                case (byte)'1': PopMark(); break;                                 // POP_MARK
                case (byte)'2': Push(Peek()); break;                              // DUP
                case (byte)'N': Push(null); break;
                case 0x88: Push(true); break;
                case 0x89: Push(false); break;
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;
                case (byte)'K': Push((long)ReadByte()); break;
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break;
                case 0x8A: Push(ReadLong(ReadByte())); break;                     // LONG1
                case (byte)'I': Push(ReadTextInt()); break;                       // INT (protocol 0/1, also True/False)
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;
                case (byte)'T': Push(Take(ReadLength(4)).ToArray()); break;       // BINSTRING (py2 str)
                case (byte)'U': Push(Take(ReadByte()).ToArray()); break;          // SHORT_BINSTRING
                case (byte)'X': Push(Encoding.UTF8.GetString(Take(ReadLength(4)))); break;
                case 0x8C: Push(Encoding.UTF8.GetString(Take(ReadByte()))); break;
                case 0x8D: Push(Encoding.UTF8.GetString(Take(ReadLength(8)))); break;
                case (byte)'B': Push(Take(ReadLength(4)).ToArray()); break;       // BINBYTES
                case (byte)'C': Push(Take(ReadByte()).ToArray()); break;
                case 0x8E: Push(Take(ReadLength(8)).ToArray()); break;
                case (byte)'}': Push(new Dictionary<object, object?>()); break;
                case (byte)']': Push(new List<object?>()); break;
                case (byte)')': Push(Array.Empty<object?>()); break;
                case (byte)'t': Push(PopMark().ToArray()); break;
                case 0x85: Push(new[] { Pop() }); break;
                case 0x86: { var b = Pop(); var a = Pop(); Push(new[] { a, b }); break; }
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new[] { a, b, c }); break; }
                case (byte)'l': Push(PopMark()); break;
                case (byte)'d': { var items = PopMark(); var d = new Dictionary<object, object?>(); SetItems(d, items); Push(d); break; }
                case (byte)'a': { var v = Pop(); AsList(Peek()).Add(v); break; }
                case (byte)'e': { var items = PopMark(); AsList(Peek()).AddRange(items); break; }
                case (byte)'s': { var v = Pop(); var k = Pop(); SetItems(AsDict(Peek()), new List<object?> { k, v }); break; }
                case (byte)'u': { var items = PopMark(); SetItems(AsDict(Peek()), items); break; }
                case (byte)'q': _memo[ReadByte()] = Peek(); break;                // BINPUT
                case (byte)'r': _memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(4))] = Peek(); break;
                case 0x94: _memo[_memo.Count] = Peek(); break;                    // MEMOIZE
                case (byte)'p': _memo[long.Parse(ReadLine(), System.Globalization.CultureInfo.InvariantCulture)] = Peek(); break;
                case (byte)'h': Push(Memo(ReadByte())); break;                    // BINGET
                case (byte)'j': Push(Memo(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break;
                case (byte)'g': Push(Memo(long.Parse(ReadLine(), System.Globalization.CultureInfo.InvariantCulture))); break;
                case (byte)'c': { string module = ReadLine(); Push(Allow(module, ReadLine())); break; }
                case 0x93: { var name = Pop(); var module = Pop(); Push(Allow(AsText(module) ?? "?", AsText(name) ?? "?")); break; }
                case (byte)'R': { var args = Pop(); var f = Pop(); Push(Reduce(f, args as object?[] ?? throw Bad("REDUCE arguments are not a tuple"))); break; }
                case (byte)'b': { var state = Pop(); Build(Peek(), state); break; }
                default: throw Bad($"opcode 0x{op:X2} at byte {_pos - 1} is not supported by this reader");
            }
        }
    }

    private static Global Allow(string module, string name)
    {
        bool ok = (module, name) switch
        {
            ("numpy.core.multiarray" or "numpy._core.multiarray", "_reconstruct") => true,
            ("numpy", "ndarray" or "dtype") => true,
            ("_codecs", "encode") => true,
            _ => false,
        };
        return ok ? new Global(module, name)
            : throw new DiffusionException($"The pickle refers to '{module}.{name}', which this reader does not allow: it only reads plain data (dicts, lists, numbers, strings and numpy arrays), never code.");
    }

    private object? Reduce(object? f, object?[] args)
    {
        if (f is not Global g) throw Bad("REDUCE of something that is not a global");
        switch (g.Name)
        {
            case "_reconstruct": return new NumpyArray();
            case "dtype": return new NumpyDType(AsText(args.ElementAtOrDefault(0)) ?? throw Bad("numpy.dtype without a name"));
            case "encode":
                // Python 3 pickles bytes under protocol 2 as _codecs.encode(text, 'latin1').
                string text = args.ElementAtOrDefault(0) as string ?? throw Bad("_codecs.encode without text");
                return Encoding.Latin1.GetBytes(text);
            default: throw Bad($"cannot call {g.Module}.{g.Name}");
        }
    }

    private void Build(object? target, object? state)
    {
        switch (target)
        {
            case NumpyDType: break;                                               // byte order etc.: only single-byte types are used
            case NumpyArray a:
                if (state is not object?[] { Length: 5 } s) throw Bad("numpy array state is not a 5-tuple");
                a.Shape = (s[1] as object?[] ?? throw Bad("numpy array shape is not a tuple")).Select(d => d is long l ? l : throw Bad("numpy dimension is not an integer")).ToArray();
                a.DType = (s[2] as NumpyDType ?? throw Bad("numpy array without dtype")).Name;
                a.Fortran = s[3] is true;
                a.Data = s[4] switch
                {
                    byte[] b => b,
                    string t => Encoding.Latin1.GetBytes(t),
                    _ => throw Bad("numpy array data is not a byte string (object arrays are not supported)"),
                };
                break;
            default: throw Bad("BUILD on an object that is not a numpy array or dtype");
        }
    }

    private void SetItems(Dictionary<object, object?> dict, List<object?> items)
    {
        if (items.Count % 2 != 0) throw Bad("odd number of dict items");
        for (int i = 0; i < items.Count; i += 2)
        {
            object key = items[i] switch
            {
                byte[] b => Encoding.Latin1.GetString(b),
                null => throw Bad("None as a dict key"),
                var k => k,
            };
            dict[key] = items[i + 1];
        }
    }

    private List<object?> AsList(object? o) => o as List<object?> ?? throw Bad("APPEND to something that is not a list");
    private Dictionary<object, object?> AsDict(object? o) => o as Dictionary<object, object?> ?? throw Bad("SETITEM on something that is not a dict");
    private object? Memo(long key) => _memo.TryGetValue(key, out var v) ? v : throw Bad($"memo entry {key} is missing");

    private void Push(object? o) => _stack.Add(o);
    private object? Peek() => _stack.Count > 0 ? _stack[^1] : throw Bad("stack underflow");

    private object? Pop()
    {
        var o = Peek();
        _stack.RemoveAt(_stack.Count - 1);
        if (ReferenceEquals(o, Mark)) throw Bad("unexpected MARK");
        return o;
    }

    private List<object?> PopMark()
    {
        int m = _stack.FindLastIndex(o => ReferenceEquals(o, Mark));
        if (m < 0) throw Bad("no MARK on the stack");
        var items = _stack.GetRange(m + 1, _stack.Count - m - 1);
        _stack.RemoveRange(m, _stack.Count - m);
        return items;
    }

    private byte ReadByte() => Take(1)[0];

    private ReadOnlySpan<byte> Take(int n)
    {
        if (n < 0 || _pos + (long)n > _data.Length) throw Bad($"it is truncated (needs {n} bytes at offset {_pos}, has {_data.Length - _pos})");
        var span = _data.AsSpan(_pos, n);
        _pos += n;
        return span;
    }

    private int ReadLength(int bytes)
    {
        long n = bytes == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(Take(4)) : (long)BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
        return n <= _data.Length - _pos ? (int)n : throw Bad($"it is truncated (a {n}-byte string at offset {_pos}, {_data.Length - _pos} bytes left)");
    }

    private long ReadLong(int n)
    {
        if (n > 8) throw Bad("integer too large");
        var bytes = Take(n);
        long v = 0;
        for (int i = n - 1; i >= 0; i--) v = (v << 8) | bytes[i];
        if (n is > 0 and < 8 && (bytes[n - 1] & 0x80) != 0) v -= 1L << (8 * n);
        return v;
    }

    private object ReadTextInt()
    {
        string line = ReadLine();
        return line switch
        {
            "00" => false,
            "01" => true,
            _ => long.TryParse(line, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : throw Bad($"bad INT '{line}'"),
        };
    }

    private string ReadLine()
    {
        int end = Array.IndexOf(_data, (byte)'\n', _pos);
        if (end < 0 || end - _pos > 256) throw Bad("unterminated text line");
        string s = Encoding.ASCII.GetString(_data, _pos, end - _pos);
        _pos = end + 1;
        return s;
    }

    private DiffusionException Bad(string what) => new($"Pickle file '{_source}' cannot be read: {what}. It is corrupted or not a dataset pickle; delete it and download it again.");
}
