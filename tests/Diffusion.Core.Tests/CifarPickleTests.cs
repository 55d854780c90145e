using System.Text;
using Diffusion.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Tests;

public sealed class CifarPickleTests
{
    /// <summary>Builds pickle bytes opcode by opcode.</summary>
    private sealed class Pickle
    {
        private readonly List<byte> _b = new() { 0x80, 0x02 };
        public Pickle Op(char c) { _b.Add((byte)c); return this; }
        public Pickle Op(byte b) { _b.Add(b); return this; }
        public Pickle Int(int v)
        {
            if (v is >= 0 and < 256) { _b.Add((byte)'K'); _b.Add((byte)v); }
            else if (v is >= 0 and < 65536) { _b.Add((byte)'M'); _b.Add((byte)v); _b.Add((byte)(v >> 8)); }
            else { _b.Add((byte)'J'); _b.AddRange(BitConverter.GetBytes(v)); }
            return this;
        }
        /// <summary>A Python 2 str (SHORT_BINSTRING or BINSTRING).</summary>
        public Pickle Str(byte[] s)
        {
            if (s.Length < 256) { _b.Add((byte)'U'); _b.Add((byte)s.Length); }
            else { _b.Add((byte)'T'); _b.AddRange(BitConverter.GetBytes(s.Length)); }
            _b.AddRange(s);
            return this;
        }
        public Pickle Str(string s) => Str(Encoding.ASCII.GetBytes(s));
        /// <summary>A Python 3 str (BINUNICODE).</summary>
        public Pickle Unicode(string s)
        {
            var u = Encoding.UTF8.GetBytes(s);
            _b.Add((byte)'X');
            _b.AddRange(BitConverter.GetBytes(u.Length));
            _b.AddRange(u);
            return this;
        }
        public Pickle Global(string module, string name) { _b.Add((byte)'c'); _b.AddRange(Encoding.ASCII.GetBytes($"{module}\n{name}\n")); return this; }
        public byte[] Stop() { _b.Add((byte)'.'); return _b.ToArray(); }
    }

    /// <summary>A CIFAR batch as Python 2's cPickle (protocol 2) writes it, or with Python 3 conventions for bytes.</summary>
    private static byte[] Batch(byte[] rows, int[] labels, bool python3 = false)
    {
        var p = new Pickle();
        void Key(string k) { if (python3) p.Unicode(k); else p.Str(k); }
        p.Op('}').Op('q').Op(1).Op('(');
        Key("batch_label"); p.Str("testing batch 1 of 1");
        Key("labels"); p.Op(']').Op('(');
        foreach (var l in labels) p.Int(l);
        p.Op('e');
        Key("data");
        p.Global("numpy.core.multiarray", "_reconstruct").Global("numpy", "ndarray").Int(0).Op(0x85).Str("b").Op(0x87).Op('R').Op('q').Op(2);
        p.Op('(').Int(1).Int(labels.Length).Int(3072).Op(0x86);
        p.Global("numpy", "dtype").Str("u1").Int(0).Int(1).Op(0x87).Op('R');
        p.Op('(').Int(3).Str("|").Op('N').Op('N').Op('N').Int(-1).Int(-1).Int(0).Op('t').Op('b');
        p.Op(0x89);
        if (python3)
            p.Global("_codecs", "encode").Unicode(Encoding.Latin1.GetString(rows)).Unicode("latin1").Op(0x86).Op('R');
        else
            p.Str(rows);
        p.Op('t').Op('b');
        Key("filenames"); p.Op(']').Op('(');
        foreach (var i in labels) p.Str($"img_{i}.png");
        p.Op('e');
        p.Op('u');
        return p.Stop();
    }

    private static byte[] Rows(int n, int seed)
    {
        var rows = new byte[n * 3072];
        new Random(seed).NextBytes(rows);
        return rows;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadsTestBatch(bool python3)
    {
        using var dir = new TempDir();
        var rows = Rows(4, 1);
        Directory.CreateDirectory(Path.Combine(dir.Path, "cifar-10-batches-py"));
        File.WriteAllBytes(Path.Combine(dir.Path, "cifar-10-batches-py", "test_batch"), Batch(rows, new[] { 3, 8, 0, 9 }, python3));

        using var ds = Cifar10.Load(dir.Path, DatasetSplit.Test);
        Assert.Equal(4, ds.Count);
        Assert.Equal((3, 32), (ds.Channels, ds.Size));
        Assert.Equal(new long[] { 3, 8, 0, 9 }, ds.Labels.data<long>().ToArray());
        Assert.Equal(rows, ds.Images.bytes.ToArray()); // row = R plane, G plane, B plane = (3, 32, 32)
    }

    [Fact]
    public void ReadsFiveTrainBatchesInOrderAndLimitsPerClass()
    {
        using var dir = new TempDir();
        var all = new List<byte>();
        for (int b = 1; b <= 5; b++)
        {
            var rows = Rows(2, b);
            all.AddRange(rows);
            File.WriteAllBytes(dir.File($"data_batch_{b}"), Batch(rows, new[] { b, 0 }));
        }
        using var ds = Cifar10.LoadPickles(dir.Path, DatasetSplit.Train);
        Assert.Equal(10, ds.Count);
        Assert.Equal(new long[] { 1, 0, 2, 0, 3, 0, 4, 0, 5, 0 }, ds.Labels.data<long>().ToArray());
        Assert.Equal(all.ToArray(), ds.Images.bytes.ToArray());

        using var few = Cifar10.LoadPickles(dir.Path, DatasetSplit.Train, maxImagesPerClass: 2);
        Assert.Equal(new long[] { 1, 0, 2, 0, 3, 4, 5 }, few.Labels.data<long>().ToArray());
    }

    [Fact]
    public void RejectsCodeAndCorruption()
    {
        using var dir = new TempDir();
        var evil = new Pickle().Global("os", "system").Str("echo hi").Op(0x85).Op('R').Stop();
        File.WriteAllBytes(dir.File("test_batch"), evil);
        var e = Assert.Throws<DiffusionException>(() => Cifar10.LoadPickles(dir.Path, DatasetSplit.Test));
        Assert.Contains("os.system", e.Message);

        var good = Batch(Rows(2, 3), new[] { 1, 2 });
        File.WriteAllBytes(dir.File("test_batch"), good.AsSpan(0, good.Length - 500).ToArray());
        e = Assert.Throws<DiffusionException>(() => Cifar10.LoadPickles(dir.Path, DatasetSplit.Test));
        Assert.Contains(dir.File("test_batch"), e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void MissingCifarListsWhereItLooked()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<DiffusionException>(() => Cifar10.Load(dir.Path, DatasetSplit.Train));
        Assert.Contains(Path.Combine(dir.Path, "cifar-10-batches-py"), e.Message);
        Assert.Contains("data_batch_1", e.Message);
        Assert.Contains("--data-dir", e.Message);
    }
}
