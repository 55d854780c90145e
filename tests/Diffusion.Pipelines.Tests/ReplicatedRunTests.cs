using Diffusion.Core;
using Diffusion.Core.Training;
using Diffusion.Pipelines.Training;

namespace Diffusion.Pipelines.Tests;

/// <summary>Several devices in one process (<see cref="RunTrainer.RunReplicated"/>), with CPU replicas standing in for CUDA devices.</summary>
public sealed class ReplicatedRunTests
{
    private static float[] Weights(string run, string file)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        var sd = StateDicts.Load(Path.Combine(Trainer.CheckpointDirectory(run), file));
        return sd.OrderBy(kv => kv.Key, StringComparer.Ordinal).SelectMany(kv => kv.Value.data<float>().ToArray()).ToArray();
    }

    [Fact]
    public void TwoReplicasTrainTheWeightsOfOneDeviceAndOnlyTheFirstWrites()
    {
        using var root = new TempDir();
        var images = Path.Combine(root, "images");
        TinyRuns.WriteImages(images, classFolders: true);
        TrainRunOptions Request(string name) => new()
        {
            Preset = "tiny", Steps = 4, OutputDirectory = Path.Combine(root, name), Precision = Precision.Float32, Dataset = "folder:" + images,
            BatchSize = 8, Seed = 3,
        };
        var log = new List<string>();
        var one = RunTrainer.Run(Request("one"));
        var two = RunTrainer.RunReplicated(Request("two"), ["cpu", "cpu"], new SyncProgress<string>(log.Add));
        Assert.Equal(4, two.Training.Steps);
        Assert.Contains(log, l => l.Contains("Data-parallel training on 2 replicas: batch 8 = 2 x 4", StringComparison.Ordinal));
        Assert.Single(log, l => l.StartsWith("UNet:", StringComparison.Ordinal)); // replica 1 does not log
        foreach (var file in new[] { Trainer.ModelFile, Trainer.EmaFile })
        {
            float[] a = Weights(one.RunDirectory, file), b = Weights(two.RunDirectory, file);
            Assert.Equal(a.Length, b.Length);
            double worst = a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();
            Assert.True(worst < 1e-5, $"{file}: two replicas differ from one device by {worst}");
        }
        Assert.Equal(one.Training.FinalLoss, two.Training.FinalLoss, 1e-5);
        Assert.True(File.Exists(Path.Combine(two.ModelDirectory, PipelineFolder.IndexFile)));
    }

    [Fact]
    public void BadDeviceListsAreRefusedBeforeTraining()
    {
        using var root = new TempDir();
        var request = new TrainRunOptions { Preset = "tiny", Steps = 1, OutputDirectory = Path.Combine(root, "run"), BatchSize = 7 };
        Assert.Contains("at least one device", Assert.Throws<DiffusionException>(() => RunTrainer.RunReplicated(request, [])).Message);
        Assert.Contains("Unknown device 'tpu'", Assert.Throws<DiffusionException>(() => RunTrainer.RunReplicated(request, ["cpu", "tpu"])).Message);
        Assert.Contains("CUDA is not available", Assert.Throws<DiffusionException>(() => RunTrainer.RunReplicated(request, ["cuda:0", "cuda:1"])).Message);
        Assert.False(Directory.Exists(Path.Combine(root, "run")));
    }
}
