using Diffusion.Core;
using TorchSharp;
using static Diffusion.Models.Tests.TestModels;
using static TorchSharp.torch;

namespace Diffusion.Models.Tests;

[Collection(TorchCollection.Name)]
public sealed class UNetShapeTests
{
    public static TheoryData<int, int[], int, int?> Configs => new()
    {
        { 28, [1, 2, 2], 1, null },     // MNIST-like: 28 → 14 → 7
        { 28, [1, 2, 2], 1, 10 },       // the same, class-conditional
        { 32, [1, 2, 2, 2], 1, null },  // 4 levels: 32 → 16 → 8 → 4
        { 64, [1, 1, 2], 3, 5 },        // RGB 64 px, conditional
        { 16, [1], 3, null },           // a single level: no down- or upsampling
    };

    [Theory]
    [MemberData(nameof(Configs))]
    public void OutputShapeEqualsInputShapeWithAttentionAtEveryLevel(int size, int[] multipliers, int channels, int? classes)
    {
        using var scope = NewDisposeScope();
        var o = Small(size, multipliers, channels, classes);
        using var model = Build(o);
        var x = Noise(o, 2);
        var cond = classes is int k ? new Condition { Labels = Labels(0, k - 1) } : Condition.None;
        using var noGrad = no_grad();
        var y = model.Predict(x, Timesteps(3, 500), cond);
        Assert.Equal(x.shape, y.shape);
        Assert.Equal(ScalarType.Float32, y.dtype);
        Assert.True(y.isfinite().all().ToBoolean());
    }

    [Fact]
    public void PresetsBuildAndPreserveShape()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var o in new[] { UNetPresets.Mnist, UNetPresets.Tiny, UNetPresets.Cifar10, UNetPresets.Faces64, UNetPresets.Faces32 })
        {
            using var model = Build(o);
            var x = Noise(o, 2);
            var cond = o.NumClasses is int k ? new Condition { Labels = Labels(1, k) } : Condition.None;
            Assert.Equal(x.shape, model.Predict(x, Timesteps(10, 900), cond).shape);
        }
    }

    [Fact]
    public void FractionalTimestepsAreUsedNotRounded()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var o = Small();
        using var model = Build(o);
        var x = Noise(o, 2);
        var fractional = model.Predict(x, Timesteps(10.5f, 250.25f), Condition.None);
        var rounded = model.Predict(x, Timesteps(10f, 250f), Condition.None);
        Assert.True(fractional.isfinite().all().ToBoolean());
        Assert.True(MaxAbsDiff(fractional, rounded) > 0);
    }

    [Fact]
    public void ScalarAndIntegerTimestepsBroadcastOverTheBatch()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var o = Small();
        using var model = Build(o);
        var x = Noise(o, 3);
        var vector = model.Predict(x, Timesteps(42, 42, 42), Condition.None);
        var scalar = model.Predict(x, tensor(42f), Condition.None);
        var integer = model.Predict(x, tensor(new long[] { 42, 42, 42 }), Condition.None);
        Assert.Equal(0f, MaxAbsDiff(vector, scalar));
        Assert.Equal(0f, MaxAbsDiff(vector, integer));
    }

    [Fact]
    public void MissingLabelsMeanTheNullClass()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var o = Small(classes: 3);
        using var model = Build(o);
        var x = Noise(o, 2);
        var t = Timesteps(100, 700);
        var none = model.Predict(x, t, Condition.None);
        var explicitNull = model.Predict(x, t, new Condition { Labels = Labels(3, 3) });
        var realClass = model.Predict(x, t, new Condition { Labels = Labels(0, 2) });
        Assert.Equal(0f, MaxAbsDiff(none, explicitNull));
        Assert.True(MaxAbsDiff(none, realClass) > 0);
    }

    public static TheoryData<string> RowConfigs => new() { "small", "mnist" };

    [Theory]
    [MemberData(nameof(RowConfigs))]
    public void BatchRowsAreIndependent(string config)
    {
        // Also guards against CPU kernels that give batch-size-dependent results (seen with some channel counts).
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var o = config == "mnist" ? UNetPresets.Mnist : Small(classes: 3);
        using var model = Build(o);
        var x = Noise(o, 3);
        var all = model.Predict(x, Timesteps(5, 600, 999), new Condition { Labels = Labels(1, 2, 0) });
        var second = model.Predict(x.narrow(0, 1, 1), Timesteps(600), new Condition { Labels = Labels(2) });
        Assert.True(MaxAbsDiff(all.narrow(0, 1, 1), second) < 1e-4f, $"row 1 differs by {MaxAbsDiff(all.narrow(0, 1, 1), second)}");
    }
}
