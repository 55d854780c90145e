using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation.Tests;

/// <summary>Mean pairwise distance within classes: exact on hand-made points, lower for collapsed classes.</summary>
public sealed class IntraClassDiversityTests
{
    [Fact]
    public void AveragesTheMeanDistanceOfDistinctPairsOverClasses()
    {
        // Class 0: (0,0), (3,4) → one pair, distance 5. Class 1: (0,0), (1,0), (0,1) → pairs 1, 1, √2.
        // Class 2 has a single row and is skipped. Rows are interleaved to check the grouping by label.
        using var features = tensor(new float[] { 0, 0, 0, 0, 3, 4, 1, 0, 9, 9, 0, 1 }).reshape(6, 2);
        int[] labels = [0, 1, 0, 1, 2, 1];
        double expected = (5 + (2 + Math.Sqrt(2)) / 3) / 2;
        Assert.Equal(expected, IntraClassDiversity.Compute(features, labels), 6);
    }

    [Fact]
    public void IsLowerWhenEachClassCollapsesOntoFewerPoints()
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(3, CPU);
        var spread = randn(new long[] { 200, 16 }, generator: generator);
        var collapsed = spread * 0.2 + randn(new long[] { 1, 16 }, generator: generator);
        int[] labels = Enumerable.Range(0, 200).Select(i => i % 4).ToArray();
        double full = IntraClassDiversity.Compute(spread, labels), narrow = IntraClassDiversity.Compute(collapsed, labels);
        Assert.Equal(0.2 * full, narrow, 4); // distances scale linearly; a shared offset does not change them
        Assert.InRange(full, Math.Sqrt(2 * 16) * 0.9, Math.Sqrt(2 * 16) * 1.05); // E|x − y| ≈ √(2D) for standard normals
    }

    [Fact]
    public void RefusesMismatchedShapesAndClassesWithoutPairs()
    {
        using var features = zeros(3, 2);
        Assert.Throws<DiffusionException>(() => IntraClassDiversity.Compute(features, [0, 1]));
        Assert.Throws<DiffusionException>(() => IntraClassDiversity.Compute(features, [0, 1, 2]));
        using var flat = zeros(3);
        Assert.Throws<DiffusionException>(() => IntraClassDiversity.Compute(flat, [0, 0, 0]));
    }
}
