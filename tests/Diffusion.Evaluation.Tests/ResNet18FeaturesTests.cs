using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation.Tests;

/// <summary>Loads the ImageNet ResNet18 of NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18 once for the class.</summary>
public sealed class ResNet18Fixture : IDisposable
{
    public ResNet18Features Extractor { get; } = ResNet18Features.FromPackage();

    public void Dispose() => Extractor.Dispose();
}

public sealed class ResNet18FeaturesTests(ResNet18Fixture fixture) : IClassFixture<ResNet18Fixture>
{
    private readonly ResNet18Features _resnet = fixture.Extractor;

    [Fact]
    public void TheModelShipsNextToTheTests()
    {
        var path = ResNet18Model.Locate();
        Assert.Equal(Path.Combine(AppContext.BaseDirectory, ResNet18Model.ModelRelativePath), path);
        Assert.True(File.Exists(ResNet18Model.PreprocessPathFor(path)));
        Assert.Equal("resnet18-imagenet", _resnet.Name);
        Assert.Equal(512, _resnet.Dimension);
        Assert.True(_resnet.Batched);                                   // the fixed batch of 1 was freed in memory
    }

    [Fact]
    public void FreeingTheBatchDimensionRewritesOnlyProtobufItUnderstands()
    {
        Assert.Null(OnnxBatchDimension.Free([0x0F, 0x01]));            // wire type 7 does not exist
        Assert.Null(OnnxBatchDimension.Free([0x3A, 0x05, 0x01]));      // graph field longer than the file
        Assert.Empty(OnnxBatchDimension.Free([])!);
    }

    [Fact]
    public void FeaturesAre512PooledActivationsThatTellDigitsApart()
    {
        using var scope = NewDisposeScope();
        var (x, y) = MnistFiles.Load("test", limit: 4);   // digits 7, 2, 1, 0

        var f = _resnet.Extract(x);

        Assert.Equal(new long[] { 4, 512 }, f.shape);
        Assert.Equal(ScalarType.Float64, f.dtype);
        Assert.True(isfinite(f).all().item<bool>());
        Assert.True(f.min().item<double>() >= 0);                      // average pool of ReLU outputs
        Assert.True(f.sum(1).min().item<double>() > 0);
        var distances = cdist(f, f);                                     // (4, 4)
        double typical = f.norm(1).mean().item<double>();
        for (int i = 0; i < 4; i++)
            for (int j = i + 1; j < 4; j++)
                Assert.True(distances[i, j].item<double>() > 0.05 * typical, $"digits {y[i].item<long>()} and {y[j].item<long>()} give nearly the same features");
    }

    [Fact]
    public void ExtractionIsDeterministicAndIndependentOfBatching()
    {
        using var scope = NewDisposeScope();
        var (x, _) = MnistFiles.Load("test", limit: 3);
        using var oneByOne = new ResNet18Features(_resnet.ModelPath, batchSize: 1);

        var a = _resnet.Extract(x);
        var b = _resnet.Extract(x);
        var c = oneByOne.Extract(x);
        var d = _resnet.Extract(x.narrow(0, 1, 1));

        Assert.False(oneByOne.Batched);
        Assert.True(ClassifierTests.Same(a, b));
        // A batch and single images agree up to float rounding (the convolution may block the work differently).
        Assert.True((a - c).abs().max().item<double>() <= 1e-5 * a.abs().max().item<double>(), "batched and single-image features differ");
        Assert.True((a.narrow(0, 1, 1) - d).abs().max().item<double>() <= 1e-5 * a.abs().max().item<double>());
    }

    [Fact]
    public void RealAndGeneratedImagesGoThroughTheSamePreprocessing()
    {
        using var scope = NewDisposeScope();
        var (real, _) = MnistFiles.Load("test", limit: 2);               // float32 from uint8 pixels
        var generated = real.to(ScalarType.Float64) * 1.1;               // a sampler's float64 output, overshooting [−1, 1]
        var clampedBack = generated.clamp(-1, 1);

        var pReal = _resnet.Preprocess(real.clamp(-1, 1));
        var pGenerated = _resnet.Preprocess(generated);

        Assert.Equal(new long[] { 2, 3, 224, 224 }, pGenerated.shape);
        Assert.Equal(ScalarType.Float32, pGenerated.dtype);
        Assert.True(ClassifierTests.Same(_resnet.Preprocess(clampedBack), pGenerated));
        Assert.True(ClassifierTests.Same(_resnet.Extract(clampedBack), _resnet.Extract(generated)));
        // The background (−1 → 0) and the strokes (1 → 255) land where MNIST's pixel values put them.
        Assert.True((pReal - pGenerated).abs().max().item<float>() < 255 * 0.11f);
    }

    [Fact]
    public void PreprocessingIsBgrPixelValuesMinusTheImageNetMeanImage()
    {
        using var scope = NewDisposeScope();
        var black = _resnet.Preprocess(full(new long[] { 1, 1, 28, 28 }, -1f));   // pixel value 0
        var white = _resnet.Preprocess(full(new long[] { 1, 1, 28, 28 }, 1f));    // pixel value 255
        var red = zeros(1, 3, 8, 8) - 1;
        red[.., 0] = ones(8, 8);                                                    // RGB (255, 0, 0)
        var redInput = _resnet.Preprocess(red);

        var mean = -black[0];                                                       // (3, 224, 224), BGR
        Assert.True(((white[0] - black[0]) - 255).abs().max().item<float>() < 1e-3f);
        var channelMeans = mean.mean(new long[] { 1, 2 }).data<float>().ToArray();
        Assert.InRange(channelMeans[0], 98, 110);                                   // B ≈ 104
        Assert.InRange(channelMeans[1], 110, 122);                                  // G ≈ 117
        Assert.InRange(channelMeans[2], 118, 130);                                  // R ≈ 124
        // Red lands in the last (R) channel of the BGR input.
        Assert.True((redInput[0, 2] + mean[2] - 255).abs().max().item<float>() < 1e-3f);
        Assert.True((redInput[0, 0] + mean[0]).abs().max().item<float>() < 1e-3f);
    }

    [Fact]
    public void BadInputsAndMissingFilesAreReported()
    {
        using var scope = NewDisposeScope();
        Assert.Throws<DiffusionException>(() => _resnet.Extract(zeros(2, 4, 28, 28)));
        Assert.Throws<DiffusionException>(() => _resnet.Extract(zeros(new long[] { 1, 1, 28, 28 }, ScalarType.Byte)));
        var missing = Path.Combine(Path.GetTempPath(), "nowhere", "ResNet18.onnx");
        var e = Assert.Throws<DiffusionException>(() => new ResNet18Features(missing, preprocessModelPath: ResNet18Model.PreprocessPathFor(_resnet.ModelPath)));
        Assert.Contains(missing, e.Message);
        using var dir = new TempDir();
        var garbage = dir.File("ResNet18.onnx");
        File.WriteAllBytes(garbage, [1, 2, 3, 4]);
        e = Assert.Throws<DiffusionException>(() => new ResNet18Features(garbage, preprocessModelPath: ResNet18Model.PreprocessPathFor(_resnet.ModelPath)));
        Assert.Contains(garbage, e.Message);
    }
}
