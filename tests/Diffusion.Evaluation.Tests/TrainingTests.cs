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
    public void GetOrLoadTrainsOnceReadsTheDataOnlyThenAndRetrainsAnUnusableCache()
    {
        using var scope = NewDisposeScope();
        using var train = TwoShades(64, seed: 1);
        using var test = TwoShades(16, seed: 2);
        var options = Quick with { Epochs = 1, BatchSize = 16, Model = new ClassifierOptions { BaseWidth = 8, FeatureDim = 8 } };
        using var cache = new TempDir();
        int reads = 0;
        var lines = new List<string>();
        (Classifier, ClassifierInfo, string) Get(ClassifierTrainingOptions? training = null) => ClassifierStore.GetOrLoad(cache, "shades",
            () => { reads++; return train; }, () => { reads++; return test; }, training ?? options, new SyncProgress<string>(lines.Add));

        var (first, info, folder) = Get();
        Assert.Equal(Path.Combine(cache, "shades"), folder);
        Assert.Equal(2, reads);
        Assert.Contains(lines, l => l.StartsWith("Training the shades classifier once (cached in ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("classifier training: epoch 1/1", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("Classifier test accuracy: ", StringComparison.Ordinal));
        Assert.Equal(16, info.TestCount);

        lines.Clear();
        var (second, again, _) = Get();
        Assert.Equal(2, reads);                      // loaded from the cache: the data were not read again
        Assert.Empty(lines);
        Assert.Equal(info, again);
        using (no_grad()) Assert.True(ClassifierTests.Same(first.call(test.Batch(arange(16)).X), second.call(test.Batch(arange(16)).X)));
        var (_, anyOptions, _) = ClassifierStore.GetOrLoad(cache, "shades", () => throw new InvalidOperationException(), () => throw new InvalidOperationException());
        Assert.Equal(info, anyOptions);              // no training options: whatever the cache holds

        Get(options with { Seed = 5 });               // other options: retrained
        Assert.Contains(lines, l => l.Contains("was trained with other options; retraining.", StringComparison.Ordinal));
        lines.Clear();
        File.WriteAllText(Path.Combine(folder, ClassifierStore.WeightsFile), "not safetensors");
        Get(options with { Seed = 5 });
        Assert.StartsWith("Cached classifier unusable (", lines[0]);
        Assert.EndsWith("; retraining.", lines[0]);
        Assert.Single(Directory.GetDirectories(cache));   // no temporary folders left behind
        Assert.Throws<DiffusionException>(() => ClassifierStore.GetOrLoad(cache, "../evil", () => train, () => test));
    }

    /// <summary>Dark images (class 0) and light ones (class 1), 28 × 28, with a little noise.</summary>
    private static Diffusion.Core.Data.ImageDataset TwoShades(int count, int seed)
    {
        var labels = arange(count, dtype: ScalarType.Int64).remainder(2);
        var noise = randint(0, 40, new long[] { count, 1, 28, 28 }, generator: new Generator((ulong)seed, CPU));
        var images = (labels.reshape(count, 1, 1, 1) * 180 + 20 + noise).to(ScalarType.Byte); // (N, 1, 28, 28)
        return new Diffusion.Core.Data.ImageDataset(images.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope(), ["dark", "light"], "shades");
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
