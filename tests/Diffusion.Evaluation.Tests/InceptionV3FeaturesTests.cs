using Diffusion.Core;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Diffusion.Evaluation.Tests;

/// <summary>The FID Inception network on random weights (no pretrained weights exist on these machines).</summary>
public sealed class InceptionV3FeaturesTests
{
    private static Tensor Images(long n, long channels, long size, ulong seed)
        => rand(new[] { n, channels, size, size }, generator: new Generator(seed, CPU)) * 2 - 1;

    [Fact]
    public void TensorNamesAndShapesMatchPytorchFidsStateDict()
    {
        using var net = new FidInceptionV3();
        var state = net.state_dict();
        var weights = state.Where(kv => !kv.Key.EndsWith(".num_batches_tracked", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value.shape);

        // 94 conv + batch-norm units (conv.weight, bn.weight, bn.bias, bn.running_mean, bn.running_var) and fc.weight, fc.bias.
        Assert.Equal(94 * 5 + 2, weights.Count);
        Assert.Equal(new long[] { 32, 3, 3, 3 }, weights["Conv2d_1a_3x3.conv.weight"]);
        Assert.Equal(new long[] { 192, 80, 3, 3 }, weights["Conv2d_4a_3x3.conv.weight"]);
        Assert.Equal(new long[] { 48 }, weights["Mixed_5b.branch5x5_1.bn.running_mean"]);
        Assert.Equal(new long[] { 32, 192, 1, 1 }, weights["Mixed_5b.branch_pool.conv.weight"]);
        Assert.Equal(new long[] { 384, 288, 3, 3 }, weights["Mixed_6a.branch3x3.conv.weight"]);
        Assert.Equal(new long[] { 192, 128, 1, 7 }, weights["Mixed_6b.branch7x7dbl_5.conv.weight"]);
        Assert.Equal(new long[] { 192, 192, 3, 3 }, weights["Mixed_7a.branch7x7x3_4.conv.weight"]);
        Assert.Equal(new long[] { 384, 384, 3, 1 }, weights["Mixed_7c.branch3x3dbl_3b.conv.weight"]);
        Assert.Equal(new long[] { 448, 2048, 1, 1 }, weights["Mixed_7c.branch3x3dbl_1.conv.weight"]);
        Assert.Equal(new long[] { 1008, 2048 }, weights["fc.weight"]);
        Assert.DoesNotContain(weights.Keys, k => k.StartsWith("AuxLogits", StringComparison.Ordinal));
        // torchvision's Inception3 has 27,161,264 parameters with its auxiliary head (3,326,696) and 1000 classes;
        // without the head and with 1008 classes: 23,834,568 + 8 × 2049.
        Assert.Equal(23_850_960L, net.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void ExtractGives2048FeaturesPerImageForAnyInputSizeAndChannels()
    {
        using var scope = NewDisposeScope();
        using var net = new FidInceptionV3(new Generator(3, CPU));
        using var extractor = new InceptionV3Features(net, batchSize: 2);

        var gray = extractor.Extract(Images(2, 1, 28, 1));
        var rgb = extractor.Extract(Images(1, 3, 32, 2));

        Assert.Equal("inception-v3-fid", extractor.Name);
        Assert.Equal(2048, extractor.Dimension);
        Assert.Equal(new long[] { 2, 2048 }, gray.shape);
        Assert.Equal(new long[] { 1, 2048 }, rgb.shape);
        Assert.Equal(ScalarType.Float64, gray.dtype);
        Assert.True(isfinite(gray).all().item<bool>());
        Assert.True(gray.min().item<double>() >= 0);                         // average of ReLU outputs
        Assert.True((gray[0] - gray[1]).abs().max().item<double>() > 0);     // different images, different features
        Assert.Equal(new long[] { 2, 3, 299, 299 }, extractor.Preprocess(Images(2, 1, 28, 1)).shape);
    }

    [Fact]
    public void ExtractRunsInEvalModeAndLeavesBatchNormStatisticsAlone()
    {
        using var scope = NewDisposeScope();
        using var net = new FidInceptionV3(new Generator(4, CPU));
        using (no_grad())
        {
            var g = new Generator(5, CPU);
            foreach (var (name, buffer) in net.named_buffers())
            {
                if (name.EndsWith("running_mean", StringComparison.Ordinal)) buffer.copy_(randn(buffer.shape, generator: g) * 0.1);
                if (name.EndsWith("running_var", StringComparison.Ordinal)) buffer.copy_(rand(buffer.shape, generator: g) + 0.5);
            }
        }
        var before = net.named_buffers().ToDictionary(b => b.name, b => b.buffer.clone());
        var x = Images(2, 1, 28, 6);
        net.train();
        using var extractor = new InceptionV3Features(net, batchSize: 2);

        var features = extractor.Extract(x);

        Assert.True(net.training);                                           // the caller's mode is restored
        foreach (var (name, buffer) in net.named_buffers())
            Assert.True(ClassifierTests.Same(before[name], buffer), $"{name} changed");
        net.eval();
        using (no_grad())
            Assert.True(ClassifierTests.Same(net.call(extractor.Preprocess(x)).to(ScalarType.Float64), features));
    }

    [Theory]
    [InlineData("inception.safetensors")]
    [InlineData("inception.pth")]
    public void SavedWeightsLoadBackExactly(string fileName)
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var path = dir.File(fileName);
        using var source = new FidInceptionV3(new Generator(1, CPU));
        source.SaveWeights(path);
        using var target = new FidInceptionV3(new Generator(2, CPU));
        Assert.False(ClassifierTests.Same(source.state_dict()["fc.weight"], target.state_dict()["fc.weight"]));

        target.LoadWeights(path);

        var expected = source.state_dict();
        foreach (var (name, tensor) in target.state_dict())
            Assert.True(ClassifierTests.Same(expected[name], tensor), $"{name} differs after loading {fileName}");
    }

    [Fact]
    public void AStateDictWithoutBatchCountersLoads()
    {
        // pytorch-fid's file may predate batch norm's num_batches_tracked; eval mode never reads it.
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var path = dir.File("no-counters.pth");
        using var source = new FidInceptionV3(new Generator(1, CPU));
        var tensors = source.state_dict().Where(kv => !kv.Key.EndsWith("num_batches_tracked", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value);
        PyTorchPickler.PickleStateDict(path, tensors);
        using var target = new FidInceptionV3(new Generator(2, CPU));

        target.LoadWeights(path);

        Assert.True(ClassifierTests.Same(source.state_dict()["Mixed_7c.branch_pool.bn.running_var"], target.state_dict()["Mixed_7c.branch_pool.bn.running_var"]));
    }

    [Fact]
    public void MissingOrMismatchedWeightsNameTheFileAndTheTensors()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var missing = Path.Combine(dir, "pt_inception.pth");
        var e = Assert.Throws<DiffusionException>(() => new InceptionV3Features(missing));
        Assert.Contains(missing, e.Message);
        Assert.Contains("does not exist", e.Message);

        using var net = new FidInceptionV3();
        var tensors = net.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);
        tensors.Remove("Mixed_6c.branch7x7_2.conv.weight");
        tensors["AuxLogits.fc.weight"] = zeros(1000, 768);
        var renamed = Path.Combine(dir, "renamed.safetensors");
        StateDicts.Save(tensors, renamed);
        e = Assert.Throws<DiffusionException>(() => new InceptionV3Features(renamed));
        Assert.Contains(renamed, e.Message);
        Assert.Contains("missing Mixed_6c.branch7x7_2.conv.weight", e.Message);
        Assert.Contains("unexpected AuxLogits.fc.weight", e.Message);
        File.Delete(renamed);   // 100 MB: one such file on disk at a time

        var reshaped = net.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);
        reshaped["fc.weight"] = zeros(1000, 2048);
        var wrongShape = Path.Combine(dir, "classes1000.safetensors");
        StateDicts.Save(reshaped, wrongShape);
        e = Assert.Throws<DiffusionException>(() => new InceptionV3Features(wrongShape));
        Assert.Contains(wrongShape, e.Message);
        Assert.Contains("fc.weight [1000, 2048] (expected [1008, 2048])", e.Message);

        var garbage = Path.Combine(dir, "garbage.pth");
        File.WriteAllBytes(garbage, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        e = Assert.Throws<DiffusionException>(() => new InceptionV3Features(garbage));
        Assert.Contains(garbage, e.Message);
    }

    [Fact]
    public void WrongInputsAreRejected()
    {
        using var scope = NewDisposeScope();
        using var net = new FidInceptionV3();
        using var extractor = new InceptionV3Features(net);
        Assert.Throws<DiffusionException>(() => extractor.Extract(zeros(2, 2, 28, 28)));
        Assert.Throws<DiffusionException>(() => extractor.Extract(zeros(new long[] { 2, 1, 28, 28 }, ScalarType.Byte)));
        Assert.Throws<DiffusionException>(() => net.call(zeros(1, 3, 28, 28)));
    }
}
