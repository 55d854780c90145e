using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation.Tests;

public sealed class VisualizationTests
{
    /// <summary>Three tight Gaussian clusters in 10-D, far apart; labels 0, 1, 2.</summary>
    private static (Tensor X, Tensor Labels) Clusters(int perCluster, ulong seed)
    {
        var g = new Generator(seed, CPU);
        var centres = randn(new long[] { 3, 10 }, dtype: ScalarType.Float64, generator: g) * 10;
        var labels = arange(3, dtype: ScalarType.Int64).repeat_interleave(perCluster);
        var x = centres.index_select(0, labels) + randn(new long[] { 3 * perCluster, 10 }, dtype: ScalarType.Float64, generator: g);
        return (x, labels);
    }

    private static long[,] Neighbours(Tensor x, int k)
    {
        var d = cdist(x, x).masked_fill(eye(x.shape[0], dtype: ScalarType.Bool), double.PositiveInfinity);
        var idx = d.topk(k, dim: 1, largest: false).indexes.contiguous().data<long>().ToArray();
        var m = new long[x.shape[0], k];
        Buffer.BlockCopy(idx, 0, m, 0, idx.Length * sizeof(long));
        return m;
    }

    [Fact]
    public void TsneKeepsWellSeparatedClustersApartAndNeighboursClose()
    {
        using var scope = NewDisposeScope();
        var (x, labels) = Clusters(40, 3);

        var y = Tsne.Embed(x, new TsneOptions { Perplexity = 15, Iterations = 400 });

        Assert.Equal(new long[] { 120, 2 }, y.shape);
        var lab = labels.data<long>().ToArray();
        int k = 10;
        var nx = Neighbours(x, k);
        var ny = Neighbours(y, k);
        int sameLabel = 0, shared = 0;
        for (int i = 0; i < 120; i++)
        {
            if (lab[ny[i, 0]] == lab[i]) sameLabel++;
            var set = Enumerable.Range(0, k).Select(j => nx[i, j]).ToHashSet();
            shared += Enumerable.Range(0, k).Count(j => set.Contains(ny[i, j]));
        }
        Assert.Equal(120, sameLabel);                                    // the nearest embedded neighbour is in the same cluster
        Assert.True(shared / (120.0 * k) > 0.4, $"kNN preservation {shared / (120.0 * k):P0}");   // chance is ~10/39 = 26 % within a cluster

        // Clusters are far apart compared with their size.
        var centres = stack(Enumerable.Range(0, 3).Select(c => y.index_select(0, nonzero(labels == c).squeeze(1)).mean(new long[] { 0 })).ToArray());
        var spread = Enumerable.Range(0, 3).Max(c => (y.index_select(0, nonzero(labels == c).squeeze(1)) - centres[c]).norm(dim: 1).max().item<double>());
        var gap = cdist(centres, centres).add(eye(3, dtype: ScalarType.Float64) * 1e9).min().item<double>();
        Assert.True(gap > 2 * spread, $"gap {gap}, spread {spread}");
    }

    [Fact]
    public void TsneLowersTheKlDivergenceAndIsReproducible()
    {
        using var scope = NewDisposeScope();
        var (x, _) = Clusters(20, 5);
        var options = new TsneOptions { Perplexity = 10, Iterations = 700, Seed = 4 };

        var y = Tsne.Embed(x, options);
        var again = Tsne.Embed(x, options with { Iterations = 50 });
        var againToo = Tsne.Embed(x, options with { Iterations = 50 });
        var random = randn(new long[] { 60, 2 }, dtype: ScalarType.Float64, generator: new Generator(1, CPU));

        Assert.True(again.allclose(againToo, rtol: 0, atol: 0));
        Assert.True(Tsne.KlDivergence(x, y, 10) < 0.5 * Tsne.KlDivergence(x, random, 10));
        Assert.Throws<DiffusionException>(() => Tsne.Embed(x, new TsneOptions { Perplexity = 60 }));
    }
}
