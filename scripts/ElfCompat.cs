// ElfCompat: lets an x86-64 Linux shared library load against an older libstdc++ when the only versions it is missing
// are dependency markers that no relocation uses. Used by scripts/torchsharp-compat.sh; run as a .NET file-based app:
//
//   dotnet run scripts/ElfCompat.cs -- defines <lib.so> <VERSION>          exit 0 if <lib.so> defines VERSION, else 1
//   dotnet run scripts/ElfCompat.cs -- status  <libstdc++.so> <file.so>...  exit 0 if every file loads as it is, else 1
//   dotnet run scripts/ElfCompat.cs -- patch   <libstdc++.so> <file.so>...  make every file load (idempotent)
//
// The patch: in each file's .gnu.version_r (SHT_GNU_verneed), every Vernaux entry that the file needs from libstdc++ and
// that <libstdc++.so> does not define gets VER_FLG_WEAK (0x2) set in vna_flags, a 2-byte field. The dynamic loader then
// accepts the missing version instead of refusing the whole library. That is only correct when no relocation refers to
// a symbol of that version (such a symbol would stay unresolved), so the tool checks every symbol bound to the version
// (.gnu.version, SHT_GNU_versym) against the REL/RELA sections of .dynsym and refuses to patch otherwise.
// TorchSharp 0.107's libLibTorchSharp.so needs GLIBCXX_3.4.32 for one symbol, std::ios_base_library_init(), which
// GCC 13's <iostream> references only so that the link records the version; nothing calls it.
// Files are written to a temporary file next to them and renamed over the original (mode kept); an unchanged file is
// not rewritten.
#:property PublishAot=false
#:property GenerateDocumentationFile=false
using System.Buffers.Binary;
using System.Text;

const uint ShtRela = 4, ShtDynamic = 6, ShtRel = 9, ShtDynsym = 11;
const uint ShtGnuVerdef = 0x6ffffffd, ShtGnuVerneed = 0x6ffffffe, ShtGnuVersym = 0x6fffffff;
const ushort VerFlgWeak = 0x2;
const long DtSoname = 14;

if (args.Length < 3 || args[0] is not ("defines" or "status" or "patch"))
{
    Console.Error.WriteLine("usage: ElfCompat defines <lib.so> <VERSION> | status <libstdc++.so> <file.so>... | patch <libstdc++.so> <file.so>...");
    return 2;
}
string Describe(Exception e) => e is ArgumentOutOfRangeException or IndexOutOfRangeException or OverflowException ? "malformed ELF file (an offset points outside it)" : e.Message;
bool Expected(Exception e) => e is ElfException or IOException or UnauthorizedAccessException or ArgumentOutOfRangeException or IndexOutOfRangeException or OverflowException;
HashSet<string> defined;
string soname;
try
{
    var provider = Elf.Read(args[1]);
    defined = DefinedVersions(provider);
    if (args[0] == "defines") return defined.Contains(args[2]) ? 0 : 1;
    soname = Soname(provider) ?? Path.GetFileName(args[1]);
}
catch (Exception e) when (Expected(e))
{
    Console.Error.WriteLine($"error: {args[1]}: {Describe(e)}");
    return 3;
}

int loadable = 0, needing = 0, patched = 0, failed = 0;
foreach (var path in args.Skip(2))
{
    try
    {
        var elf = Elf.Read(path);
        var missing = MissingVersions(elf, soname, defined);
        var strong = missing.Where(m => (m.Flags & VerFlgWeak) == 0).ToList();
        if (strong.Count == 0)
        {
            loadable++;
            Console.WriteLine(missing.Count == 0
                ? $"ok: {path} (needs no version that {args[1]} lacks)"
                : $"ok: {path} (already patched: {string.Join(", ", missing.Select(m => m.Name))} weak)");
            continue;
        }
        if (args[0] == "status")
        {
            needing++;
            Console.WriteLine($"needs patch: {path} ({string.Join(", ", strong.Select(m => m.Name))} not in {args[1]})");
            continue;
        }
        foreach (var m in strong)
            BinaryPrimitives.WriteUInt16LittleEndian(elf.Bytes.AsSpan(checked((int)m.FlagsOffset), 2), (ushort)(m.Flags | VerFlgWeak));
        elf.WriteAtomically();
        patched++;
        Console.WriteLine($"patched: {path} ({string.Join("; ", strong.Select(m => m.Symbols.Count == 0 ? $"{m.Name}, bound to no symbol" : $"{m.Name}, needed only for {string.Join(", ", m.Symbols)}"))}: now weak)");
    }
    catch (Exception e) when (Expected(e))
    {
        failed++;
        Console.Error.WriteLine($"error: {path}: {Describe(e)}");
    }
}
Console.WriteLine(args[0] == "status"
    ? $"{needing} file(s) need patching, {loadable} load as they are, {failed} could not be checked"
    : $"{patched} file(s) patched, {loadable} already loadable, {failed} failed");
return failed > 0 ? 3 : needing > 0 ? 1 : 0;

// The version names a library defines (.gnu.version_d: Verdef entries, the first Verdaux of each holds the name).
static HashSet<string> DefinedVersions(Elf lib)
{
    var names = new HashSet<string>(StringComparer.Ordinal);
    var verdef = lib.Sections.FirstOrDefault(s => s.Type == ShtGnuVerdef) ?? throw new ElfException("defines no symbol versions (no .gnu.version_d)");
    var strtab = lib.Sections[(int)verdef.Link];
    long at = verdef.Offset;
    for (uint i = 0; i < verdef.Info; i++)
    {
        ushort count = lib.U16(at + 6);
        uint aux = lib.U32(at + 12), next = lib.U32(at + 16);
        if (count > 0) names.Add(lib.String(strtab, lib.U32(at + aux)));
        if (next == 0) break;
        at += next;
    }
    return names;
}

static string? Soname(Elf lib)
{
    var dynamic = lib.Sections.FirstOrDefault(s => s.Type == ShtDynamic);
    if (dynamic is null) return null;
    for (long at = dynamic.Offset; at + 16 <= dynamic.Offset + dynamic.Size; at += 16)
    {
        long tag = (long)lib.U64(at);
        if (tag == 0) break;
        if (tag == DtSoname) return lib.String(lib.Sections[(int)dynamic.Link], (uint)lib.U64(at + 8));
    }
    return null;
}

// The versions `elf` needs from `soname` (.gnu.version_r) that `defined` lacks, each with the symbols bound to it.
// Throws when one of those symbols is defined here or used by a relocation: weakening the version would not be enough.
static List<Missing> MissingVersions(Elf elf, string soname, HashSet<string> defined)
{
    var result = new List<Missing>();
    var verneed = elf.Sections.FirstOrDefault(s => s.Type == ShtGnuVerneed);
    if (verneed is null) return result;
    var strtab = elf.Sections[(int)verneed.Link];
    long at = verneed.Offset;
    for (uint i = 0; i < verneed.Info; i++)
    {
        ushort count = elf.U16(at + 2);
        string file = elf.String(strtab, elf.U32(at + 4));
        uint aux = elf.U32(at + 8), next = elf.U32(at + 12);
        long a = at + aux;
        for (int j = 0; j < count && file == soname; j++)
        {
            ushort flags = elf.U16(a + 4), index = elf.U16(a + 6);
            string name = elf.String(strtab, elf.U32(a + 8));
            if (!defined.Contains(name)) result.Add(new Missing(name, flags, a + 4, index, []));
            uint anext = elf.U32(a + 12);
            if (anext == 0) break;
            a += anext;
        }
        if (next == 0) break;
        at += next;
    }
    if (result.Count == 0) return result;

    var versym = elf.Sections.FirstOrDefault(s => s.Type == ShtGnuVersym) ?? throw new ElfException("has no .gnu.version");
    var dynsym = elf.Sections[(int)versym.Link];
    if (dynsym.Type != ShtDynsym) throw new ElfException(".gnu.version does not link to .dynsym");
    var dynsymIndex = Array.IndexOf(elf.Sections, dynsym);
    var symbolStrings = elf.Sections[(int)dynsym.Link];
    var relocated = new HashSet<long>();
    foreach (var rel in elf.Sections.Where(s => (s.Type is ShtRela or ShtRel) && s.Link == dynsymIndex))
    {
        long size = rel.Type == ShtRela ? 24 : 16;
        for (long r = rel.Offset; r + size <= rel.Offset + rel.Size; r += size) relocated.Add((long)(elf.U64(r + 8) >> 32));
    }
    long symbols = dynsym.Size / 24;
    foreach (var m in result)
    {
        for (long s = 0; s < symbols; s++)
        {
            if ((elf.U16(versym.Offset + 2 * s) & 0x7fff) != m.Index) continue;
            long sym = dynsym.Offset + 24 * s;
            string name = elf.String(symbolStrings, elf.U32(sym));
            if (elf.U16(sym + 6) != 0)
                throw new ElfException($"symbol {name} of version {m.Name} is defined in the file; not patching");
            if (relocated.Contains(s))
                throw new ElfException($"symbol {name}@{m.Name} is used by a relocation, so marking {m.Name} weak would leave it unresolved; this system's libstdc++ is too old (install a newer libstdc++6)");
            m.Symbols.Add(name);
        }
    }
    return result;
}

sealed record Missing(string Name, ushort Flags, long FlagsOffset, ushort Index, List<string> Symbols);

sealed record Section(uint Type, long Offset, long Size, uint Link, uint Info);

sealed class ElfException(string message) : Exception(message);

// An ELF64 little-endian file in memory, with its section headers.
sealed class Elf
{
    public required string Path { get; init; }
    public required byte[] Bytes { get; init; }
    public required Section[] Sections { get; init; }

    public static Elf Read(string path)
    {
        var b = File.ReadAllBytes(path);
        if (b.Length < 64 || b[0] != 0x7f || b[1] != 'E' || b[2] != 'L' || b[3] != 'F') throw new ElfException("not an ELF file");
        if (b[4] != 2 || b[5] != 1) throw new ElfException("not a 64-bit little-endian ELF file");
        var span = b.AsSpan();
        long shoff = (long)BinaryPrimitives.ReadUInt64LittleEndian(span[0x28..]);
        int shentsize = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3A..]), shnum = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3C..]);
        if (shoff == 0 || shnum == 0 || shentsize < 64) throw new ElfException("has no usable section headers");
        var sections = new Section[shnum];
        for (int i = 0; i < shnum; i++)
        {
            var h = span.Slice(checked((int)(shoff + (long)i * shentsize)), 64);
            sections[i] = new Section(
                BinaryPrimitives.ReadUInt32LittleEndian(h[4..]),
                (long)BinaryPrimitives.ReadUInt64LittleEndian(h[24..]),
                (long)BinaryPrimitives.ReadUInt64LittleEndian(h[32..]),
                BinaryPrimitives.ReadUInt32LittleEndian(h[40..]),
                BinaryPrimitives.ReadUInt32LittleEndian(h[44..]));
            if (sections[i].Type != 8 /* SHT_NOBITS */ && (sections[i].Offset < 0 || sections[i].Offset + sections[i].Size > b.Length))
                throw new ElfException($"section {i} lies outside the file");
        }
        return new Elf { Path = path, Bytes = b, Sections = sections };
    }

    public ushort U16(long at) => BinaryPrimitives.ReadUInt16LittleEndian(Bytes.AsSpan(checked((int)at), 2));
    public uint U32(long at) => BinaryPrimitives.ReadUInt32LittleEndian(Bytes.AsSpan(checked((int)at), 4));
    public ulong U64(long at) => BinaryPrimitives.ReadUInt64LittleEndian(Bytes.AsSpan(checked((int)at), 8));

    public string String(Section strtab, uint offset)
    {
        if (offset >= strtab.Size) throw new ElfException($"string offset {offset} outside its string table");
        var s = Bytes.AsSpan(checked((int)(strtab.Offset + offset)), (int)(strtab.Size - offset));
        int end = s.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? s : s[..end]);
    }

    // Writes the bytes to a temporary file in the same folder, with the original's mode, and renames it over the original.
    public void WriteAtomically()
    {
        var full = System.IO.Path.GetFullPath(Path);
        var temp = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(full)!, $".{System.IO.Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var f = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            {
                f.Write(Bytes);
                f.Flush(flushToDisk: true);
            }
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temp, File.GetUnixFileMode(full));
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
