using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>
/// Exact t-SNE (van der Maaten &amp; Hinton 2008, Algorithm 1) in float64: per-point Gaussian affinities whose
/// bandwidth matches the perplexity (found by bisection for all points at once), symmetrised; Student-t
/// affinities in 2-D; gradient descent with momentum, per-coordinate gains and early exaggeration.
/// Costs O(N²) memory and time per iteration, so it is meant for up to a few thousand points.
/// </summary>
public static class Tsne
{
    /// <summary>Largest number of points accepted (the N × N matrices then take ~200 MB each).</summary>
    public const int MaxPoints = 5000;

    /// <summary>Embeds the rows of <paramref name="features"/> (N, D) in the plane.</summary>
    /// <param name="features">Feature vectors, any floating dtype.</param>
    /// <param name="options">Options; null uses the defaults.</param>
    /// <param name="cancellationToken">Checked every iteration.</param>
    /// <returns>The embedding, float64, shape (N, 2), centred at 0.</returns>
    /// <exception cref="DiffusionException">The matrix is malformed, has more than <see cref="MaxPoints"/> rows, or the perplexity is not below N.</exception>
    public static Tensor Embed(Tensor features, TsneOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new TsneOptions();
        using var scope = NewDisposeScope();
        var x = FeatureMatrix.AsFloat64(features, "t-SNE input", minRows: 2);
        long n = x.shape[0];
        if (n > MaxPoints) throw new DiffusionException($"Exact t-SNE is limited to {MaxPoints} points (got {n}); subsample first.");
        if (options.Perplexity >= n) throw new DiffusionException($"t-SNE perplexity ({options.Perplexity}) must be below the number of points ({n}).");

        var p = JointProbabilities(x, options.Perplexity);                       // (N, N), sums to 1
        double learningRate = options.LearningRate > 0 ? options.LearningRate : Math.Max(n / options.EarlyExaggeration / 4, 50);
        var generator = new Generator((ulong)options.Seed, CPU);
        var y = randn(new long[] { n, 2 }, dtype: ScalarType.Float64, generator: generator) * 1e-4;   // (N, 2)
        var update = zeros_like(y);
        var diagonal = eye(n, dtype: ScalarType.Bool);
        var gains = ones_like(y);

        for (int it = 0; it < options.Iterations; it++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var step = NewDisposeScope();
            bool early = it < options.ExaggerationIterations;
            var pe = early ? p * options.EarlyExaggeration : p;
            double momentum = early ? 0.5 : 0.8;

            var num = (1 / (1 + SquaredDistances(y))).masked_fill(diagonal, 0);    // (N, N) Student-t kernel
            var q = (num / num.sum()).clamp_min(1e-12);
            var w = (pe - q) * num;                                               // (N, N)
            var grad = 4 * (w.sum(1, keepdim: true) * y - w.mm(y));              // (N, 2): 4 Σⱼ wᵢⱼ (yᵢ − yⱼ)

            // Delta-bar-delta gains (Jacobs 1988): grow where the gradient keeps its direction against the step.
            var flipped = grad.sign().ne(update.sign());
            gains.copy_(where(flipped, gains + 0.2, gains * 0.8).clamp_min(0.01));
            update.copy_(momentum * update - learningRate * gains * grad);
            y.add_(update);
            y.sub_(y.mean(new long[] { 0 }, keepdim: true));
        }
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>Kullback–Leibler divergence KL(P ‖ Q) between the input affinities and those of an embedding, the
    /// quantity t-SNE minimises; useful to compare runs.</summary>
    /// <exception cref="DiffusionException">The shapes disagree or the perplexity is out of range.</exception>
    public static double KlDivergence(Tensor features, Tensor embedding, double perplexity = 30)
    {
        using var scope = NewDisposeScope();
        var x = FeatureMatrix.AsFloat64(features, "t-SNE input", minRows: 2);
        var y = FeatureMatrix.AsFloat64(embedding, "t-SNE embedding", minRows: 2);
        if (x.shape[0] != y.shape[0]) throw new DiffusionException($"The embedding has {y.shape[0]} points but the input {x.shape[0]}.");
        if (perplexity < 1 || perplexity >= x.shape[0]) throw new DiffusionException($"Perplexity must be in [1, {x.shape[0]}) (got {perplexity}).");
        var p = JointProbabilities(x, perplexity);
        var num = (1 / (1 + SquaredDistances(y))).masked_fill(eye(y.shape[0], dtype: ScalarType.Bool), 0);
        var q = (num / num.sum()).clamp_min(1e-12);
        return (p.xlogy(p) - p.xlogy(q)).sum().item<double>();
    }

    private static Tensor SquaredDistances(Tensor x)
    {
        var sq = x.pow(2).sum(1, keepdim: true);                                  // (N, 1)
        return (sq + sq.T - 2 * x.mm(x.T)).clamp_min(0);                           // (N, N)
    }

    /// <summary>P = (P_{j|i} + P_{i|j}) / 2N with each row's precision βᵢ set so that 2^{H(P_i)} equals the perplexity.</summary>
    private static Tensor JointProbabilities(Tensor x, double perplexity)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[0];
        var d2 = SquaredDistances(x);
        d2 = d2 / d2.max();                                                         // scale-free bisection range
        var diagonal = eye(n, dtype: ScalarType.Bool);
        double targetEntropy = Math.Log(perplexity);
        var lo = zeros(new long[] { n, 1 }, ScalarType.Float64);
        var hi = full(new long[] { n, 1 }, double.PositiveInfinity, ScalarType.Float64);
        var beta = ones(new long[] { n, 1 }, ScalarType.Float64);
        Tensor conditional = null!;
        for (int i = 0; i < 64; i++)   // enough doublings and halvings for float64 precision of β on the normalised distances
        {
            // Subtracting each row's smallest off-diagonal distance keeps exp() from underflowing for large β.
            var shifted = (d2 - d2.masked_fill(diagonal, double.PositiveInfinity).min(1, keepdim: true).values).masked_fill(diagonal, 0);
            var w = (-shifted * beta).exp().masked_fill(diagonal, 0);              // (N, N)
            var sum = w.sum(1, keepdim: true);
            conditional = w / sum;
            var entropy = sum.log() + beta * (shifted * conditional).sum(1, keepdim: true);   // H(P_i) in nats
            var tooFlat = entropy > targetEntropy;                                    // entropy too high → raise β
            lo = where(tooFlat, beta, lo);
            hi = where(tooFlat, hi, beta);
            beta = where(hi.isinf(), beta * 2, (lo + hi) / 2);
        }
        var p = (conditional + conditional.T) / (2.0 * n);
        return p.clamp_min(1e-12).MoveToOuterDisposeScope();
    }
}
