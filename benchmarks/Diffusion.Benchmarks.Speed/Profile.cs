using System.Diagnostics;
using System.Text.Json.Nodes;
using Diffusion.Core.Training;
using Diffusion.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Benchmarks.Speed;

/// <summary>
/// Where a training step's time goes, per kind of operation: every operation of the UNet at the shape it has in the
/// network, run forward and backward on its own (a stopwatch; TorchSharp has no profiler), in float32, bf16 and under
/// autocast, summed over the network. The sum is printed next to a measured full step so the coverage shows.
/// </summary>
internal static class Profile
{
    private sealed record Op(string Kind, long InChannels, long OutChannels, long Size, long Stride = 1, long Kernel = 3, long Heads = 1);

    /// <summary>The operations of one forward pass, walked the way <see cref="UNetCost"/> walks the network.</summary>
    private static List<Op> Operations(UNetOptions o)
    {
        var ops = new List<Op>();
        void Res(long cin, long cout, long s)
        {
            ops.Add(new("groupnorm+silu", cin, cin, s));
            ops.Add(new("conv3x3", cin, cout, s));
            ops.Add(new("groupnorm+silu", cout, cout, s));
            ops.Add(new("conv3x3", cout, cout, s));
            if (cin != cout) ops.Add(new("conv1x1", cin, cout, s, Kernel: 1));
            ops.Add(new("add", cout, cout, s)); // time embedding and residual
            ops.Add(new("add", cout, cout, s));
        }
        void Attn(long c, long s)
        {
            ops.Add(new("groupnorm", c, c, s));
            ops.Add(new("linear (q, k, v, out)", c, c, s));
            ops.Add(new("attention (sdpa)", c, c, s, Heads: Math.Max(1, c / o.AttentionHeadDim)));
            ops.Add(new("add", c, c, s));
        }
        ops.Add(new("conv3x3 (padded conv_in)", o.InChannels, o.BaseChannels, o.SampleSize));
        var skips = new Stack<long>();
        skips.Push(o.BaseChannels);
        for (int level = 0; level < o.Levels; level++)
        {
            long cin = level == 0 ? o.BaseChannels : o.ChannelsAt(level - 1), c = o.ChannelsAt(level), s = o.SampleSize >> level;
            for (int j = 0; j < o.LayersPerBlock; j++)
            {
                Res(j == 0 ? cin : c, c, s);
                if (o.AttentionLevels.Contains(level)) Attn(c, s);
                skips.Push(c);
            }
            if (level < o.Levels - 1)
            {
                ops.Add(new("conv3x3 stride 2", c, c, s, Stride: 2));
                skips.Push(c);
            }
        }
        long last = o.ChannelsAt(o.Levels - 1), lowest = o.SampleSize >> (o.Levels - 1);
        Res(last, last, lowest);
        if (o.MidAttention) Attn(last, lowest);
        Res(last, last, lowest);
        for (int level = o.Levels - 1; level >= 0; level--)
        {
            long cin = level == o.Levels - 1 ? last : o.ChannelsAt(level + 1), c = o.ChannelsAt(level), s = o.SampleSize >> level;
            for (int j = 0; j <= o.LayersPerBlock; j++)
            {
                long skip = skips.Pop(), prev = j == 0 ? cin : c;
                ops.Add(new("cat", prev + skip, prev + skip, s));
                Res(prev + skip, c, s);
                if (o.AttentionLevels.Contains(level)) Attn(c, s);
            }
            if (level > 0)
            {
                ops.Add(new("upsample (nearest 2x)", c, c, s));
                ops.Add(new("conv3x3", c, c, 2 * s));
            }
        }
        ops.Add(new("groupnorm+silu", o.BaseChannels, o.BaseChannels, o.SampleSize));
        ops.Add(new("conv3x3 (padded conv_out)", o.BaseChannels, o.OutChannels, o.SampleSize));
        return ops;
    }

    public static JsonObject Run(UNetOptions o, int batch, int repeats)
    {
        var ops = Operations(o);
        var result = new JsonObject { ["batch"] = batch, ["operations"] = ops.Count };
        var byPrecision = new JsonObject();
        foreach (var precision in new[] { "fp32", "bf16", "autocast" })
        {
            var kinds = new Dictionary<string, double>();
            var cache = new Dictionary<Op, double>();
            foreach (var op in ops)
            {
                var key = op with { Kind = Normalize(op.Kind) };
                if (!cache.TryGetValue(key, out double ms)) cache[key] = ms = Time(op, batch, precision, repeats);
                kinds[Normalize(op.Kind)] = kinds.GetValueOrDefault(Normalize(op.Kind)) + ms;
            }
            var row = new JsonObject();
            foreach (var (kind, ms) in kinds.OrderByDescending(kv => kv.Value)) row[kind] = Math.Round(ms, 2);
            row["total"] = Math.Round(kinds.Values.Sum(), 1);
            byPrecision[precision] = row;
        }
        result["millisecondsForwardBackward"] = byPrecision;
        return result;
    }

    private static string Normalize(string kind) => kind.StartsWith("conv3x3 (padded", StringComparison.Ordinal) ? "conv3x3 (narrow, padded to 16)" : kind;

    /// <summary>Median milliseconds of one forward + backward of <paramref name="op"/>.</summary>
    private static double Time(Op op, int batch, string precision, int repeats)
    {
        using var scope = NewDisposeScope();
        var dtype = precision == "bf16" ? ScalarType.BFloat16 : ScalarType.Float32;
        long s = op.Size, cin = op.InChannels, cout = op.OutChannels;
        Func<Tensor, Tensor> f;
        var x = randn(batch, cin, s, s).to(dtype).requires_grad_(true);
        switch (op.Kind)
        {
            case var k when k.StartsWith("conv", StringComparison.Ordinal):
            {
                // Narrow convolutions run padded to 16 channels in the SDK (ChannelPaddedConv2d).
                long pin = k.Contains("padded", StringComparison.Ordinal) ? Pad(cin) : cin, pout = k.Contains("padded", StringComparison.Ordinal) ? Pad(cout) : cout;
                var w = (randn(pout, pin, op.Kernel, op.Kernel) * 0.05).to(dtype).requires_grad_(true);
                var b = zeros(pout).to(dtype).requires_grad_(true);
                x = randn(batch, pin, s, s).to(dtype).requires_grad_(true);
                f = t => nn.functional.conv2d(t, w, b, strides: [op.Stride, op.Stride], padding: [op.Kernel / 2, op.Kernel / 2]);
                break;
            }
            case "groupnorm+silu":
            case "groupnorm":
            {
                var w = ones(cin).to(dtype).requires_grad_(true);
                var b = zeros(cin).to(dtype).requires_grad_(true);
                bool silu = op.Kind.EndsWith("silu", StringComparison.Ordinal);
                f = t => { var n = nn.functional.group_norm(t, 8, w, b); return silu ? nn.functional.silu(n) : n; };
                break;
            }
            case "linear (q, k, v, out)":
            {
                var w = (randn(4 * cin, cin) * 0.05).to(dtype).requires_grad_(true);
                x = randn(batch, s * s, cin).to(dtype).requires_grad_(true);
                f = t => nn.functional.linear(t, w);
                break;
            }
            case "attention (sdpa)":
            {
                long heads = op.Heads, d = cin / heads;
                x = randn([3, batch, heads, s * s, d]).to(dtype).requires_grad_(true);
                // As the SDK does: bf16 attention runs in float32 (AttentionBlock / ScaledAttention).
                f = t => nn.functional.scaled_dot_product_attention(t[0].to(ScalarType.Float32), t[1].to(ScalarType.Float32), t[2].to(ScalarType.Float32)).to(t.dtype);
                break;
            }
            case "cat":
                f = t => cat([t, t], 1);
                break;
            case "upsample (nearest 2x)":
                f = t => t.reshape(batch, cin, s, 1, s, 1).expand(batch, cin, s, 2, s, 2).reshape(batch, cin, 2 * s, 2 * s);
                break;
            case "add":
                f = t => t + t;
                break;
            default:
                throw new InvalidOperationException(op.Kind);
        }
        var times = new List<double>();
        for (int i = 0; i < repeats + 2; i++)
        {
            using var inner = NewDisposeScope();
            var clock = Stopwatch.StartNew();
            Tensor y;
            using (precision == "autocast" ? Autocast.Enter(CPU) : null) y = f(x);
            y.backward([ones_like(y)]);
            times.Add(clock.Elapsed.TotalMilliseconds);
            x.grad?.zero_();
        }
        times = times.Skip(2).Order().ToList(); // two warm-up runs
        return times[times.Count / 2];
    }

    private static long Pad(long c) => (c + 15) / 16 * 16;
}
