namespace Diffusion.Models;

/// <summary>
/// The arithmetic a <see cref="UNet"/> does per image, counted from its <see cref="UNetOptions"/>: multiply-adds of the
/// convolutions, linear layers and attention products (normalizations, activations and additions are left out: they
/// are memory-bound and small in FLOPs). Training costs about three forward passes per image (forward, and backward's
/// two products per layer). Used to print a preset's size and to put measured speed against a CPU's limit.
/// </summary>
public static class UNetCost
{
    /// <summary>Floating-point operations (2 per multiply-add) of one forward pass for one image.</summary>
    public static double ForwardFlops(UNetOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var o = options;
        double macs = 0;
        long emb = o.ResolvedTimeEmbeddingDim;
        double Conv(long cin, long cout, long k, long size) => (double)cin * cout * k * k * size * size;
        double Res(long cin, long cout, long size) => Conv(cin, cout, 3, size) + Conv(cout, cout, 3, size) + emb * cout
            + (cin == cout ? 0 : Conv(cin, cout, 1, size));
        double Attn(long c, long size)
        {
            double n = (double)size * size;
            return 4 * n * c * c + 2 * n * n * c; // q, k, v, out projections; QKᵀ and AV
        }

        macs += o.BaseChannels * emb + emb * emb; // time embedding
        long s = o.SampleSize;
        macs += Conv(o.InChannels, o.BaseChannels, 3, s);
        var skips = new Stack<long>();
        skips.Push(o.BaseChannels);
        for (int level = 0; level < o.Levels; level++)
        {
            long cin = level == 0 ? o.BaseChannels : o.ChannelsAt(level - 1), c = o.ChannelsAt(level), size = o.SampleSize >> level;
            for (int j = 0; j < o.LayersPerBlock; j++)
            {
                macs += Res(j == 0 ? cin : c, c, size);
                if (o.AttentionLevels.Contains(level)) macs += Attn(c, size);
                skips.Push(c);
            }
            if (level < o.Levels - 1)
            {
                macs += Conv(c, c, 3, size / 2);
                skips.Push(c);
            }
        }
        long last = o.ChannelsAt(o.Levels - 1), lowest = o.SampleSize >> (o.Levels - 1);
        macs += 2 * Res(last, last, lowest) + (o.MidAttention ? Attn(last, lowest) : 0);
        for (int level = o.Levels - 1; level >= 0; level--)
        {
            long cin = level == o.Levels - 1 ? last : o.ChannelsAt(level + 1), c = o.ChannelsAt(level), size = o.SampleSize >> level;
            for (int j = 0; j <= o.LayersPerBlock; j++)
            {
                macs += Res((j == 0 ? cin : c) + skips.Pop(), c, size);
                if (o.AttentionLevels.Contains(level)) macs += Attn(c, size);
            }
            if (level > 0) macs += Conv(c, c, 3, size * 2);
        }
        macs += Conv(o.BaseChannels, o.OutChannels, 3, s);
        return 2 * macs;
    }

    /// <summary>Elements of the largest activation one image makes in a forward pass: the widest input of a block
    /// (an up block's concatenation at full resolution, usually). Times the batch and the dtype's size, the largest
    /// single tensor of a call.</summary>
    public static long LargestActivationPerImage(UNetOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var o = options;
        long largest = 0;
        for (int level = 0; level < o.Levels; level++)
        {
            long size = o.SampleSize >> level;
            long above = level < o.Levels - 1 ? o.ChannelsAt(level + 1) : o.ChannelsAt(level);
            // The up block's first residual block reads the level above's output next to this level's skip.
            largest = Math.Max(largest, (above + o.ChannelsAt(level)) * size * size);
            if (level > 0) largest = Math.Max(largest, o.ChannelsAt(level) * 4 * size * size); // the 2x upsampled input
        }
        return largest;
    }

    /// <summary>Floating-point operations of one training step for one image: forward plus backward, ≈ 3 forwards.</summary>
    public static double TrainingFlops(UNetOptions options) => 3 * ForwardFlops(options);
}
