using Diffusion.Core;
using Diffusion.Core.Conditioning;
using Diffusion.Core.Data;
using Diffusion.Core.Imaging;
using Diffusion.Core.Schedules;
using Diffusion.Core.Training;
using Diffusion.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Pipelines.Tests;

/// <summary>
/// Two tiny trained runs, made once for every test: a class-conditional one on a folder of dark and light images (27
/// train, 3 test images per class) and an unconditional one on a flat folder (36 train, 4 test images), each a
/// <see cref="UNetPresets.Tiny"/> network trained for two steps. Tests evaluate copies (<see cref="Copy"/>), since the
/// evaluator writes its reports into the run folder, and share one classifier and reference cache.
/// </summary>
public sealed class TinyRuns : IDisposable
{
    private readonly TempDir _dir = new();

    public TinyRuns()
    {
        manual_seed(0);
        Conditional = Train("shapes", classFolders: true);
        Unconditional = Train("plain", classFolders: false);
    }

    /// <summary>The class-conditional template run (2 classes).</summary>
    public string Conditional { get; }

    /// <summary>The unconditional template run.</summary>
    public string Unconditional { get; }

    /// <summary>The classifier cache the tests share.</summary>
    public string Classifiers => Path.Combine(_dir, "classifiers");

    /// <summary>The real-feature cache the tests share.</summary>
    public string References => Path.Combine(_dir, "references");

    /// <summary>A copy of the run folder <paramref name="template"/> (run.json and its EMA weights) in <paramref name="into"/>/run.</summary>
    public static string Copy(string template, string into)
    {
        var run = Path.Combine(into, "run");
        var weights = Path.Combine(Trainer.CheckpointDirectory(run), Trainer.EmaFile);
        Directory.CreateDirectory(Path.GetDirectoryName(weights)!);
        File.Copy(Path.Combine(template, RunOptions.FileName), Path.Combine(run, RunOptions.FileName));
        File.Copy(Path.Combine(Trainer.CheckpointDirectory(template), Trainer.EmaFile), weights);
        return run;
    }

    public void Dispose() => _dir.Dispose();

    private string Train(string name, bool classFolders)
    {
        var images = Path.Combine(_dir, name);
        WriteImages(images, classFolders);
        var run = Path.Combine(_dir, "runs", name);
        var preset = Presets.Get("tiny");
        var options = preset with
        {
            Dataset = Datasets.FolderPrefix + images,
            Model = preset.Model with { NumClasses = classFolders ? 2 : null },
            Training = preset.Training with { BatchSize = 8, MaxSteps = 2, WarmupSteps = 1, LogEvery = 1, Precision = Precision.Float32 },
        };
        using var data = options.LoadData(null, DatasetSplit.Train);
        Directory.CreateDirectory(run);
        OptionsJson.Save(options, Path.Combine(run, RunOptions.FileName));
        using var network = new UNet(options.Model);
        var conditioner = classFolders ? new ClassConditioner(2, data.Classes) : null;
        using var trainer = new Trainer(network, new NoiseSchedule(options.Schedule), conditioner, data, options.Training, run);
        trainer.Run();
        return run;
    }

    /// <summary>30 dark and 30 light 28 × 28 images in two class folders, or 40 of all shades in one flat folder.</summary>
    internal static void WriteImages(string folder, bool classFolders)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(1, CPU);
        Tensor Shades(int count, Tensor level) => (level.reshape(count, 1, 1, 1) + 0.1 * randn(new long[] { count, 1, 28, 28 }, generator: generator)).clamp(-1, 1);
        if (classFolders)
        {
            ImageFiles.SavePngs(Shades(30, full(30, -0.7)), Path.Combine(folder, "dark"));
            ImageFiles.SavePngs(Shades(30, full(30, 0.7)), Path.Combine(folder, "light"));
        }
        else
        {
            ImageFiles.SavePngs(Shades(40, linspace(-0.8, 0.8, 40)), folder);
        }
    }
}
