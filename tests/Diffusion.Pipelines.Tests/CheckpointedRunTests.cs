using System.Text.Json.Nodes;
using Diffusion.Core.Training;
using Diffusion.Pipelines.Training;

namespace Diffusion.Pipelines.Tests;

public sealed class CheckpointedRunTests
{
    [Fact]
    public void ACheckpointedRunRecordsItAndTrainsTheSameWeights()
    {
        using var root = new TempDir();
        var images = Path.Combine(root, "images");
        TinyRuns.WriteImages(images, classFolders: true);
        float[] Train(string name, bool checkpointing)
        {
            var run = Path.Combine(root, name);
            var log = new List<string>();
            RunTrainer.Run(new TrainRunOptions
            {
                Preset = "tiny", Steps = 3, OutputDirectory = run, Precision = Precision.Float32, Dataset = "folder:" + images, BatchSize = 8,
                GradientCheckpointing = checkpointing,
            }, new Diffusion.Core.SyncProgress<string>(log.Add));
            Assert.Equal(checkpointing, log.Any(l => l.Contains("gradient checkpointing", StringComparison.Ordinal)));
            var training = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "training.json")))!;
            Assert.Equal(checkpointing, training["gradientCheckpointing"]!.GetValue<bool>());
            using var scope = TorchSharp.torch.NewDisposeScope();
            var sd = Diffusion.Core.StateDicts.Load(Path.Combine(Trainer.CheckpointDirectory(run), Trainer.ModelFile));
            return sd.OrderBy(kv => kv.Key, StringComparer.Ordinal).SelectMany(kv => kv.Value.data<float>().ToArray()).ToArray();
        }
        var plain = Train("plain", false);
        var checkpointed = Train("checkpointed", true);
        Assert.Equal(plain.Length, checkpointed.Length);
        double worst = plain.Zip(checkpointed, (a, b) => Math.Abs((double)a - b)).Max();
        Assert.True(worst < 1e-3, $"checkpointing changed a weight by {worst}");
    }
}
