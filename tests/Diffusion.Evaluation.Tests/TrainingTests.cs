using System.Diagnostics;
using Diffusion.Core;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Diffusion.Evaluation.Tests;

public sealed class TrainingTests(ITestOutputHelper output)
{
    private static readonly ClassifierTrainingOptions Quick = new()
    {
        Epochs = 2,
        BatchSize = 64,
        LearningRate = 3e-3,
        Model = new ClassifierOptions { BaseWidth = 16, FeatureDim = 32 },
    };

    [Fact]
    public void AShortRunLearnsMnistDigits()
    {
        Assert.True(MnistFiles.Available, $"MNIST is expected in {MnistFiles.DataDirectory}/mnist");
        using var scope = NewDisposeScope();
        var (x, y) = MnistFiles.Load("train", limit: 2048);
        var (tx, ty) = MnistFiles.Load("test", limit: 500);
        var reports = new List<ClassifierTrainingProgress>();

        var c = ClassifierTrainer.Train(x, y, Quick with { ReportEvery = 16 }, new SyncProgress<ClassifierTrainingProgress>(reports.Add));
        var r = ClassAccuracy.Evaluate(c, tx, ty);
        output.WriteLine($"test accuracy after {reports[^1].Elapsed.TotalSeconds:F1}s: {r.Accuracy:P2}");

        Assert.Equal(ScalarType.Float32, c.DType);
        Assert.False(c.training);
        Assert.True(r.Accuracy > 0.85, $"accuracy {r.Accuracy}");
        Assert.Equal(2 * (2048 / 64), reports[^1].Step);
        Assert.True(reports[^1].Loss < reports[0].Loss);
    }

    [Fact]
    public void TrainingIsReproducibleForASeedAndHonoursCancellation()
    {
        using var scope = NewDisposeScope();
        var (x, y) = MnistFiles.Load("train", limit: 256);
        // Width 16: oneDNN's kernels for very narrow convolutions (e.g. 4 channels) reduce in a thread-dependent order.
        var options = Quick with { Epochs = 1, Model = new ClassifierOptions { BaseWidth = 16, FeatureDim = 16 } };

        var a = ClassifierTrainer.Train(x, y, options);
        var b = ClassifierTrainer.Train(x, y, options);
        var probe = x.narrow(0, 0, 8);
        using (no_grad()) Assert.True(ClassifierTests.Same(a.call(probe), b.call(probe)));

        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => ClassifierTrainer.Train(x, y, options, cancellationToken: cts.Token));
    }

    [Fact]
    public void TrainingKeepsAFlatTensorCount()
    {
        using var scope = NewDisposeScope();
        var (x, y) = MnistFiles.Load("train", limit: 256);
        var options = Quick with { BatchSize = 32, Model = new ClassifierOptions { BaseWidth = 16, FeatureDim = 16 } };
        long Live() => DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        ClassifierTrainer.Train(x, y, options with { Epochs = 1 }).Dispose();   // warm-up
        long start = Live();
        ClassifierTrainer.Train(x, y, options with { Epochs = 1 }).Dispose();
        long afterShort = Live();
        ClassifierTrainer.Train(x, y, options with { Epochs = 4 }).Dispose();
        long afterLong = Live();

        Assert.Equal(afterShort - start, afterLong - afterShort);   // 8 steps or 32 steps: the same number of survivors
    }

    [Fact]
    public void Float32TrainingAlsoWorks()
    {
        using var scope = NewDisposeScope();
        var (x, y) = MnistFiles.Load("train", limit: 512);
        var c = ClassifierTrainer.Train(x, y, Quick with { Epochs = 1, BFloat16 = false, Model = new ClassifierOptions { BaseWidth = 16, FeatureDim = 16 } });
        Assert.Equal(ScalarType.Float32, c.DType);
    }

    [Fact]
    public void GetOrTrainTrainsOnceAndReusesTheCache()
    {
        using var scope = NewDisposeScope();
        var (x, y) = MnistFiles.Load("train", limit: 512);
        var (tx, ty) = MnistFiles.Load("test", limit: 200);
        var options = Quick with { Epochs = 1, Model = new ClassifierOptions { BaseWidth = 16, FeatureDim = 16 } };
        using var cache = new TempDir();
        int reports = 0;
        var (first, info1) = ClassifierStore.GetOrTrain(cache, "mnist-tiny", x, y, tx, ty, options, new SyncProgress<ClassifierTrainingProgress>(_ => reports++));
        int afterFirst = reports;
        var (second, info2) = ClassifierStore.GetOrTrain(cache, "mnist-tiny", x, y, tx, ty, options, new SyncProgress<ClassifierTrainingProgress>(_ => reports++));

        Assert.True(afterFirst > 0);
        Assert.Equal(afterFirst, reports);           // no training the second time
        Assert.Equal(info1, info2);
        Assert.Equal(200, info1.TestCount);
        using (no_grad()) Assert.True(ClassifierTests.Same(first.call(tx), second.call(tx)));
        Assert.Single(Directory.GetDirectories(cache));   // no temporary folders left behind
        Assert.Throws<DiffusionException>(() => ClassifierStore.GetOrTrain(cache, "../evil", x, y, tx, ty, options));
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void MnistClassifierReaches99PercentTestAccuracy()
    {
        using var scope = NewDisposeScope();
        var (x, y) = MnistFiles.Load("train");
        var (tx, ty) = MnistFiles.Load("test");
        var clock = Stopwatch.StartNew();

        var c = ClassifierTrainer.Train(x, y, new ClassifierTrainingOptions(),
            new SyncProgress<ClassifierTrainingProgress>(p => output.WriteLine(p.ToString())));
        double seconds = clock.Elapsed.TotalSeconds;
        var r = ClassAccuracy.Evaluate(c, tx, ty);
        output.WriteLine($"MNIST test accuracy {r.Accuracy:P2} after {seconds:F0}s of training");
        output.WriteLine(r.ToMarkdown());

        Assert.True(r.Accuracy >= 0.99, $"accuracy {r.Accuracy:P2}");
    }
}

/// <summary>An IProgress that reports on the calling thread (Progress&lt;T&gt; posts to the thread pool).</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
