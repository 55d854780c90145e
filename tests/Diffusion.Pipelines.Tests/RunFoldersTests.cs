using Diffusion.Core;
using Diffusion.Core.Training;
using Diffusion.Pipelines.Training;

namespace Diffusion.Pipelines.Tests;

public sealed class RunFoldersTests
{
    [Fact]
    public void FindListsRunsWithTheirLatestMetrics()
    {
        using var root = new TempDir();
        var run = Path.Combine(root, "b-run");
        var images = Path.Combine(root, "a-images"); // no run.json: not listed
        TinyRuns.WriteImages(images, classFolders: true);
        RunTrainer.Run(new TrainRunOptions { Preset = "tiny", Steps = 10, OutputDirectory = run, Precision = Precision.Float32, Dataset = "folder:" + images, BatchSize = 8 });
        Directory.CreateDirectory(Path.Combine(root, "a-not-a-run"));
        File.AppendAllText(Path.Combine(run, "metrics.jsonl"), "{\"step\": 1"); // a line cut by a crash is passed over

        var runs = RunFolders.Find(root);
        var r = Assert.Single(runs);
        Assert.Equal("b-run", r.Name);
        Assert.Equal("tiny", r.Preset);
        Assert.Equal(10, r.Step);
        Assert.True(r.Loss is > 0 and < 10);
        Assert.True(r.GradientNorm is > 0 && double.IsFinite(r.GradientNorm.Value), $"gradient norm {r.GradientNorm}");
        Assert.Equal(0, r.SkippedSteps);
        Assert.True(r.HasModel);
        Assert.Equal(runs, RunFolders.Find(run)); // a run folder itself lists just that run
        Assert.Throws<DiffusionException>(() => RunFolders.Find(Path.Combine(root, "missing")));
    }
}
