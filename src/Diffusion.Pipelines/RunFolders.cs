using System.Text.Json;
using Diffusion.Core;

namespace Diffusion.Pipelines;

/// <summary>Names inside a training run folder, and finding the runs under a folder.</summary>
public static class RunFolders
{
    /// <summary>The sub-folder where a run keeps its EMA model in the pipeline layout (<see cref="PipelineFolder"/>).</summary>
    public const string ModelFolder = "model";

    /// <summary>The runs directly below <paramref name="root"/> (or <paramref name="root"/> itself when it is a run), by name,
    /// with the last line of each run's metrics.jsonl.</summary>
    /// <exception cref="DiffusionException">The folder does not exist.</exception>
    public static IReadOnlyList<RunSummary> Find(string root)
    {
        if (!Directory.Exists(root)) throw new DiffusionException($"Folder '{root}' does not exist.");
        var folders = File.Exists(Path.Combine(root, RunOptions.FileName)) ? [root]
            : Directory.GetDirectories(root).Where(d => File.Exists(Path.Combine(d, RunOptions.FileName))).Order(StringComparer.Ordinal).ToArray();
        return folders.Select(Summarise).ToArray();
    }

    private static RunSummary Summarise(string folder)
    {
        var options = RunOptions.Load(folder);
        JsonElement? last = null;
        var metrics = Path.Combine(folder, "metrics.jsonl");
        if (File.Exists(metrics))
            foreach (var line in File.ReadLines(metrics).Reverse())
            {
                try { last = JsonDocument.Parse(line).RootElement.Clone(); break; }
                catch (JsonException) { } // a line cut by a crash: take the one before
            }
        double? Number(string name) => last is { } e && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
        return new RunSummary(Path.GetFileName(Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar)), folder, options.Preset, options.Dataset,
            (int?)Number("step"), Number("loss"), Number("lr"), Number("gradNorm"), Number("imagesPerSecond"), Number("elapsedSeconds"),
            (int?)Number("skippedSteps"), PipelineFolder.IsModelFolder(Path.Combine(folder, ModelFolder)));
    }
}

/// <summary>One run found by <see cref="RunFolders.Find"/>: what it is and where its latest logged metrics stood.</summary>
/// <param name="Name">The folder's name.</param>
/// <param name="Folder">The folder.</param>
/// <param name="Preset">The preset it started from.</param>
/// <param name="Dataset">Its dataset.</param>
/// <param name="Step">The last logged optimizer step, or null before the first log line.</param>
/// <param name="Loss">Mean loss of the last logged window.</param>
/// <param name="LearningRate">Learning rate at the last log line.</param>
/// <param name="GradientNorm">Gradient norm (before clipping) at the last log line.</param>
/// <param name="ImagesPerSecond">Throughput of the last logged window.</param>
/// <param name="ElapsedSeconds">Training time so far.</param>
/// <param name="SkippedSteps">Non-finite steps skipped in the last training call.</param>
/// <param name="HasModel">True when the run has written its model folder.</param>
public sealed record RunSummary(string Name, string Folder, string Preset, string Dataset, int? Step, double? Loss, double? LearningRate,
    double? GradientNorm, double? ImagesPerSecond, double? ElapsedSeconds, int? SkippedSteps, bool HasModel);
