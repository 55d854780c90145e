using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation.Tests;

public sealed class FrechetDistanceTests
{
    [Fact]
    public void DiagonalGaussiansMatchClosedForm()
    {
        using var scope = NewDisposeScope();
        double[] mu1 = [0.5, -1.0, 2.0, 0.0], mu2 = [1.5, 0.0, -1.0, 0.25];
        double[] s1 = [1.0, 2.0, 0.5, 3.0], s2 = [4.0, 0.5, 0.5, 0.1];
        double expected = 0;
        for (int i = 0; i < 4; i++)
            expected += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]) + s1[i] + s2[i] - 2 * Math.Sqrt(s1[i] * s2[i]);

        double fid = FrechetDistance.Compute(tensor(mu1), diag(tensor(s1)), tensor(mu2), diag(tensor(s2)));

        Assert.Equal(expected, fid, 10);
    }

    [Fact]
    public void NonDiagonalCaseMatchesDenmanBeaversSquareRoot()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(7, CPU);
        int d = 12;
        var a = randn(new long[] { d, d }, dtype: ScalarType.Float64, generator: g);
        var b = randn(new long[] { d, d }, dtype: ScalarType.Float64, generator: g);
        var sigma1 = a.mm(a.T) / d + 0.1 * eye(d, dtype: ScalarType.Float64);
        var sigma2 = b.mm(b.T) / d + 0.05 * eye(d, dtype: ScalarType.Float64);
        var mu1 = randn(new long[] { d }, dtype: ScalarType.Float64, generator: g);
        var mu2 = randn(new long[] { d }, dtype: ScalarType.Float64, generator: g);

        // Reference: the principal square root of the (non-symmetric) product Σ₁Σ₂ by Denman–Beavers iteration.
        var product = ToArray(sigma1.mm(sigma2));
        var root = DenmanBeaversSqrt(product);
        double traceRoot = Enumerable.Range(0, d).Sum(i => root[i, i]);
        var diff = (mu1 - mu2).data<double>().ToArray();
        double expected = diff.Sum(v => v * v) + sigma1.trace().item<double>() + sigma2.trace().item<double>() - 2 * traceRoot;

        double fid = FrechetDistance.Compute(mu1, sigma1, mu2, sigma2);

        Assert.Equal(expected, fid, 8);
        // Symmetric in its arguments.
        Assert.Equal(fid, FrechetDistance.Compute(mu2, sigma2, mu1, sigma1), 8);
    }

    [Fact]
    public void DistanceOfFeaturesToThemselvesIsZero()
    {
        using var scope = NewDisposeScope();
        var x = randn(new long[] { 500, 16 }, dtype: ScalarType.Float64, generator: new Generator(1, CPU)).mm(randn(16, 16, dtype: ScalarType.Float64));
        var s = FeatureStatistics.FromFeatures(x, "toy");

        var r = FrechetDistance.Compute(s, s);

        // Zero up to the rounding of the matrix square root, which scales with the covariance (its trace is about 250 here):
        // the CI machine gave 2.3e-8, so the bound is a billionth of the trace, ten times that.
        double trace = Enumerable.Range(0, s.Dimension).Sum(i => s.Covariance[i, i]);
        Assert.InRange(r.Value, 0, 1e-9 * trace);
        Assert.Equal(500, r.ReferenceCount);
        Assert.Equal("toy", r.Extractor);
    }

    [Fact]
    public void StatisticsMatchMeanAndUnbiasedCovariance()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new double[,] { { 1, 2 }, { 3, 6 }, { 5, 7 } });
        var s = FeatureStatistics.FromFeatures(x, "toy");

        Assert.Equal([3.0, 5.0], s.Mean);
        Assert.Equal(4.0, s.Covariance[0, 0], 12);   // ((−2)² + 0² + 2²) / 2
        Assert.Equal(5.0, s.Covariance[0, 1], 12);   // ((−2)(−3) + 0·1 + 2·2) / 2
        Assert.Equal(7.0, s.Covariance[1, 1], 12);   // (9 + 1 + 4) / 2
        Assert.Equal(3, s.Count);
    }

    [Fact]
    public void StatisticsRoundTripThroughSafetensors()
    {
        using var scope = NewDisposeScope();
        var s = FeatureStatistics.FromFeatures(randn(new long[] { 50, 8 }, generator: new Generator(3, CPU)), "classifier-mnist");
        using var dir = new TempDir();
        var path = dir.File("stats.safetensors");
        s.Save(path);
        var t = FeatureStatistics.Load(path);

        Assert.Equal(s.Mean, t.Mean);
        Assert.Equal(s.Covariance, t.Covariance);
        Assert.Equal(s.Count, t.Count);
        Assert.Equal(s.Extractor, t.Extractor);
        Assert.Equal(0.0, FrechetDistance.Compute(s, t).Value, 10);
    }

    [Fact]
    public void LoadingGarbageOrMissingStatisticsThrowsDiffusionException()
    {
        using var dir = new TempDir();
        var path = dir.File("stats.safetensors");
        Assert.Throws<DiffusionException>(() => FeatureStatistics.Load(path));
        File.WriteAllBytes(path, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        Assert.Throws<DiffusionException>(() => FeatureStatistics.Load(path));
    }

    [Fact]
    public void MixingExtractorsOrSizesIsRejected()
    {
        using var scope = NewDisposeScope();
        var x = randn(new long[] { 20, 4 }, generator: new Generator(0, CPU));
        var a = FeatureStatistics.FromFeatures(x, "a");
        var b = FeatureStatistics.FromFeatures(x, "b");
        Assert.Throws<DiffusionException>(() => FrechetDistance.Compute(a, b));
        Assert.Throws<DiffusionException>(() => FrechetDistance.Compute(zeros(3), eye(3), zeros(4), eye(4)));
        Assert.Throws<DiffusionException>(() => FeatureStatistics.FromFeatures(x.narrow(0, 0, 1), "a"));
    }

    private static double[,] ToArray(Tensor t)
    {
        int n = (int)t.shape[0];
        var flat = t.contiguous().data<double>().ToArray();
        var m = new double[n, n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) m[i, j] = flat[i * n + j];
        return m;
    }

    // Y_{k+1} = (Y_k + Z_k⁻¹)/2, Z_{k+1} = (Z_k + Y_k⁻¹)/2 with Y_0 = A, Z_0 = I converges to (A^½, A^−½).
    private static double[,] DenmanBeaversSqrt(double[,] a)
    {
        var y = (double[,])a.Clone();
        var z = Identity(a.GetLength(0));
        for (int k = 0; k < 60; k++)
        {
            var yi = Inverse(y);
            var zi = Inverse(z);
            y = Average(y, zi);
            z = Average(z, yi);
        }
        return y;
    }

    private static double[,] Identity(int n)
    {
        var m = new double[n, n];
        for (int i = 0; i < n; i++) m[i, i] = 1;
        return m;
    }

    private static double[,] Average(double[,] a, double[,] b)
    {
        int n = a.GetLength(0);
        var m = new double[n, n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) m[i, j] = (a[i, j] + b[i, j]) / 2;
        return m;
    }

    // Gauss–Jordan elimination with partial pivoting.
    private static double[,] Inverse(double[,] a)
    {
        int n = a.GetLength(0);
        var m = (double[,])a.Clone();
        var inv = Identity(n);
        for (int c = 0; c < n; c++)
        {
            int p = c;
            for (int r = c + 1; r < n; r++) if (Math.Abs(m[r, c]) > Math.Abs(m[p, c])) p = r;
            for (int j = 0; j < n; j++)
            {
                (m[c, j], m[p, j]) = (m[p, j], m[c, j]);
                (inv[c, j], inv[p, j]) = (inv[p, j], inv[c, j]);
            }
            double pivot = m[c, c];
            for (int j = 0; j < n; j++) { m[c, j] /= pivot; inv[c, j] /= pivot; }
            for (int r = 0; r < n; r++)
            {
                if (r == c) continue;
                double f = m[r, c];
                for (int j = 0; j < n; j++) { m[r, j] -= f * m[c, j]; inv[r, j] -= f * inv[c, j]; }
            }
        }
        return inv;
    }
}
