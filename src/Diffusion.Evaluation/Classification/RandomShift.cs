using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Diffusion.Evaluation;

/// <summary>Augmentation by random translation: pad by <c>maxShift</c> pixels, then crop a window at a random offset, per image.</summary>
internal static class RandomShift
{
    /// <summary>Shifts each image of <paramref name="x"/> (B, C, H, W) independently by −maxShift … maxShift pixels per axis.</summary>
    public static Tensor Apply(Tensor x, int maxShift, double fill, Generator generator)
    {
        if (maxShift == 0) return x.alias();
        using var scope = NewDisposeScope();
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        var padded = F.pad(x, new long[] { maxShift, maxShift, maxShift, maxShift }, value: fill);  // (B, C, H+2m, W+2m)
        var dy = randint(0, 2 * maxShift + 1, new long[] { b, 1 }, generator: generator);      // (B, 1)
        var dx = randint(0, 2 * maxShift + 1, new long[] { b, 1 }, generator: generator);      // (B, 1)
        var rows = (dy + arange(h)).view(b, 1, h, 1).expand(b, c, h, w + 2 * maxShift);        // (B, C, H, W+2m)
        var cols = (dx + arange(w)).view(b, 1, 1, w).expand(b, c, h, w);                      // (B, C, H, W)
        return padded.gather(2, rows).gather(3, cols).MoveToOuterDisposeScope();               // (B, C, H, W)
    }
}
