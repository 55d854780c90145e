using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation.Tests;

public sealed class SampleMetricTests
{
    private static Tensor Gaussian(long n, long d, ulong seed, double shift = 0)
        => randn(new long[] { n, d }, dtype: ScalarType.Float64, generator: new Generator(seed, CPU)) + shift;

    [Fact]
    public void KidIsNearZeroForSamplesOfTheSameDistribution()
    {
        using var scope = NewDisposeScope();
        var r = KernelInceptionDistance.Compute(Gaussian(600, 8, 1), Gaussian(600, 8, 2), subsets: 20, subsetSize: 200, extractor: "toy");

        Assert.True(Math.Abs(r.Mean) < 2 * r.Std + 1e-3, $"KID {r.Mean} ± {r.Std}");
        Assert.Equal(200, r.SubsetSize);
        Assert.Equal("toy", r.Extractor);
    }

    [Fact]
    public void KidIsClearlyPositiveForShiftedSamples()
    {
        using var scope = NewDisposeScope();
        var same = KernelInceptionDistance.Compute(Gaussian(600, 8, 1), Gaussian(600, 8, 2), subsets: 20, subsetSize: 200);
        var shifted = KernelInceptionDistance.Compute(Gaussian(600, 8, 1), Gaussian(600, 8, 2, shift: 0.5), subsets: 20, subsetSize: 200);

        Assert.True(shifted.Mean > 10 * shifted.Std, $"KID {shifted.Mean} ± {shifted.Std}");
        Assert.True(shifted.Mean > 10 * Math.Abs(same.Mean));
    }

    [Fact]
    public void KidIsReproducibleForASeedAndCapsTheSubsetSize()
    {
        using var scope = NewDisposeScope();
        var a = KernelInceptionDistance.Compute(Gaussian(50, 4, 1), Gaussian(40, 4, 2), subsets: 5, subsetSize: 1000, seed: 9);
        var b = KernelInceptionDistance.Compute(Gaussian(50, 4, 1), Gaussian(40, 4, 2), subsets: 5, subsetSize: 1000, seed: 9);

        Assert.Equal(a, b);
        Assert.Equal(40, a.SubsetSize);
    }

    [Fact]
    public void InceptionScoreIsKForConfidentBalancedPredictions()
    {
        using var scope = NewDisposeScope();
        int k = 10;
        var labels = arange(1000, dtype: ScalarType.Int64) % k;          // every split of 100 holds each class 10 times
        var p = nn.functional.one_hot(labels, k).to(ScalarType.Float64);

        var r = InceptionScore.Compute(p, splits: 10);

        Assert.Equal(k, r.Mean, 9);
        Assert.Equal(0, r.Std, 9);
    }

    [Fact]
    public void InceptionScoreIsOneForAConstantPrediction()
    {
        using var scope = NewDisposeScope();
        var p = tensor(new double[] { 0.7, 0.2, 0.1 }).expand(300, 3);

        var r = InceptionScore.Compute(p, splits: 3);

        Assert.Equal(1.0, r.Mean, 12);
        Assert.Equal(300, r.SampleCount);
    }

    [Fact]
    public void InceptionScoreRejectsLogits()
    {
        using var scope = NewDisposeScope();
        Assert.Throws<DiffusionException>(() => InceptionScore.Compute(randn(20, 5)));
        Assert.Throws<DiffusionException>(() => InceptionScore.Compute(ones(5, 2) / 2, splits: 6));
    }

    [Fact]
    public void IdenticalPointCloudsHaveFullPrecisionRecallAndCoverage()
    {
        using var scope = NewDisposeScope();
        var x = Gaussian(400, 5, 3);

        var r = PrecisionRecall.Compute(x, x.clone(), k: 3, extractor: "toy");

        Assert.Equal(1.0, r.Precision);
        Assert.Equal(1.0, r.Recall);
        Assert.Equal(1.0, r.Coverage);
        Assert.InRange(r.Density, 0.8, 1.4);
    }

    [Fact]
    public void SamplesFromTheSameDistributionScoreHigh()
    {
        using var scope = NewDisposeScope();
        var r = PrecisionRecall.Compute(Gaussian(1500, 4, 1), Gaussian(1500, 4, 2), k: 5);

        Assert.InRange(r.Precision, 0.8, 1.0);
        Assert.InRange(r.Recall, 0.8, 1.0);
        Assert.InRange(r.Coverage, 0.8, 1.0);
        Assert.InRange(r.Density, 0.7, 1.3);
    }

    [Fact]
    public void DisjointPointCloudsHaveZeroPrecisionRecallAndCoverage()
    {
        using var scope = NewDisposeScope();
        var r = PrecisionRecall.Compute(Gaussian(300, 5, 1), Gaussian(300, 5, 2, shift: 50));

        Assert.Equal(0.0, r.Precision);
        Assert.Equal(0.0, r.Recall);
        Assert.Equal(0.0, r.Density);
        Assert.Equal(0.0, r.Coverage);
    }

    [Fact]
    public void ModeCollapseKeepsPrecisionButLosesRecall()
    {
        using var scope = NewDisposeScope();
        var real = Gaussian(1000, 2, 1);
        var collapsed = Gaussian(1000, 2, 2) * 0.1;     // all samples near the centre of the real distribution

        var r = PrecisionRecall.Compute(real, collapsed, k: 3);

        Assert.True(r.Precision > 0.95, $"precision {r.Precision}");
        Assert.True(r.Recall < 0.2, $"recall {r.Recall}");
        Assert.True(r.Coverage < 0.3, $"coverage {r.Coverage}");
    }

    [Fact]
    public void ReportListsEveryValueWithFloorCountsAndExtractor()
    {
        var md = MetricReport.ToMarkdown(
        [
            new FlooredResult(new FrechetDistanceResult(1.25, 5000, 5000, "classifier-mnist"), new FrechetDistanceResult(0.5, 5000, 5000, "classifier-mnist")),
            new FlooredResult(new KernelInceptionDistanceResult(0.0123, 0.0004, 100, 1000, 5000, 5000, "classifier-mnist"),
                new KernelInceptionDistanceResult(0.0001, 0.0002, 100, 1000, 5000, 5000, "classifier-mnist")),
            new InceptionScoreResult(9.5, 0.1, 10, 5000, "classifier-mnist"),
            new FlooredResult(new PrecisionRecallResult(0.9, 0.8, 1.01, 0.95, 3, 5000, 5000, "classifier-mnist"),
                new PrecisionRecallResult(0.97, 0.96, 1.0, 0.97, 3, 5000, 5000, "classifier-mnist")),
            new ClassAccuracyMetric(0.93, 5000, 0.992, "classifier-mnist"),
        ]);
        var lines = md.TrimEnd('\n').Split('\n');

        Assert.Equal(2 + 1 + 1 + 1 + 4 + 1, lines.Length);
        Assert.Equal("| metric | value | floor (real vs real) | N reference | N samples | features |", lines[0]);
        Assert.Equal("| FID | 1.2500 | 0.5000 | 5000 | 5000 | classifier-mnist |", lines[2]);
        Assert.Equal("| KID | 0.0123 ± 4.000E-4 | 1.000E-4 ± 2.000E-4 | 5000 | 5000 | classifier-mnist |", lines[3]);
        Assert.Equal("| IS | 9.5000 ± 0.1000 | — | — | 5000 | classifier-mnist |", lines[4]);
        Assert.StartsWith("| recall | 0.8000 | 0.9600 |", lines[6]);
        Assert.Equal("| class accuracy | 0.9300 | 0.9920 | — | 5000 | classifier-mnist |", lines[9]);
    }

    [Fact]
    public void AReferenceMetricWithoutItsFloorIsNotReported()
    {
        var e = Assert.Throws<DiffusionException>(() => MetricReport.ToMarkdown([new FrechetDistanceResult(1.25, 5000, 5000, "classifier-mnist")]));
        Assert.Contains("floor", e.Message);
        Assert.Throws<DiffusionException>(() => MetricReport.ToMarkdown([new InceptionScoreResult(9.5, 0.1, 10, 0, "classifier-mnist")]));
    }

    [Fact]
    public void AFloorMustUseTheSameMetricExtractorAndCounts()
    {
        var fid = new FrechetDistanceResult(1.25, 5000, 5000, "classifier-mnist");
        Assert.Throws<DiffusionException>(() => new FlooredResult(fid, new FrechetDistanceResult(0.5, 10000, 5000, "classifier-mnist")));
        Assert.Throws<DiffusionException>(() => new FlooredResult(fid, new FrechetDistanceResult(0.5, 5000, 5000, "resnet18-imagenet")));
        Assert.Throws<DiffusionException>(() => new FlooredResult(fid, new KernelInceptionDistanceResult(0, 0, 1, 2, 5000, 5000, "classifier-mnist")));
        var paired = new FlooredResult(fid, new FrechetDistanceResult(0.5, 5000, 5000, "classifier-mnist"));
        Assert.Equal(0.5, Assert.Single(paired.Values).Floor);
    }

    [Fact]
    public void MetricNamesParseCaseInsensitivelyAndRejectUnknownOnesListingTheValidOnes()
    {
        Assert.Equal(["fid", "kid", "is"], MetricNames.Parse(" FID, kid,is ,fid"));
        var e = Assert.Throws<DiffusionException>(() => MetricNames.Parse("fid,lpips"));
        Assert.Equal("Unknown metric 'lpips'. Valid: fid, kid, is, pr, accuracy.", e.Message);
        Assert.Throws<DiffusionException>(() => MetricNames.Parse(" , "));
    }

    [Fact]
    public void FidPoolingAveragesOnlyRealPixels()
    {
        // pytorch-fid's blocks pool with count_include_pad = False: a constant image stays constant up to the border.
        using var scope = NewDisposeScope();
        var x = full(new long[] { 1, 2, 5, 5 }, 3.0f);
        Assert.True(ClassifierTests.Same(x, FidPooling.Average(x)));
    }
}
