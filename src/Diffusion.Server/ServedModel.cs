using System.Text.Json.Nodes;
using Diffusion.Core;
using Diffusion.Pipelines;

namespace Diffusion.Server;

/// <summary>What <c>GET /v1/models</c> says about a served model.</summary>
/// <param name="Name">The name requests use: the model folder's name.</param>
/// <param name="Conditioning">"class", "text" or "none".</param>
/// <param name="Classes">The class names of a class-conditional model (class i is <c>Classes[i]</c>), else null.</param>
/// <param name="Channels">Image channels.</param>
/// <param name="Height">Image height in pixels.</param>
/// <param name="Width">Image width in pixels.</param>
/// <param name="TrainSteps">The schedule's training steps (an upper bound of sampling steps).</param>
/// <param name="Config">The folder's <c>model_index.json</c> and each component's config, as written on disk.</param>
public sealed record ModelInfo(string Name, string Conditioning, IReadOnlyList<string>? Classes, int Channels, int Height, int Width, int TrainSteps,
    JsonObject Config);

/// <summary>A loaded model, its description and its queue.</summary>
internal sealed class ServedModel : IAsyncDisposable
{
    private ServedModel(DiffusionPipeline pipeline, ModelInfo info, GenerationQueue queue)
    {
        Pipeline = pipeline;
        Info = info;
        Queue = queue;
    }

    public DiffusionPipeline Pipeline { get; }

    public ModelInfo Info { get; }

    public GenerationQueue Queue { get; }

    public ConditioningKind Kind => Info.Conditioning switch { "class" => ConditioningKind.Class, "text" => ConditioningKind.Prompt, _ => ConditioningKind.None };

    /// <summary>Loads the model folder <paramref name="folder"/> under its folder name.</summary>
    /// <exception cref="DiffusionException">The folder does not hold a loadable model.</exception>
    public static ServedModel Load(string folder, ServerOptions options)
    {
        var pipeline = DiffusionPipeline.Load(folder, options.Device, options.Precision);
        try
        {
            var c = pipeline.Components;
            string conditioning = c.Conditioner switch
            {
                null => "none",
                IConditioner<int> => "class",
                IConditioner<string> => "text",
                _ => "other",
            };
            var shape = pipeline.ImageShape;
            var info = new ModelInfo(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder))), conditioning, pipeline.ClassNames,
                (int)shape[0], (int)shape[1], (int)shape[2], c.Scheduler.TrainSteps, Configs(folder));
            return new ServedModel(pipeline, info, new GenerationQueue(pipeline, options));
        }
        catch
        {
            pipeline.Dispose();
            throw;
        }
    }

    /// <summary>model_index.json and every <c>*/config.json</c> or <c>*/scheduler_config.json</c> beside it, parsed as
    /// JSON documents (nothing is bound to types).</summary>
    private static JsonObject Configs(string folder)
    {
        var result = new JsonObject();
        var index = Path.Combine(folder, PipelineFolder.IndexFile);
        if (File.Exists(index)) result["model_index"] = JsonNode.Parse(File.ReadAllText(index));
        foreach (var dir in Directory.GetDirectories(folder).Order(StringComparer.Ordinal))
            foreach (var name in new[] { "config.json", "scheduler_config.json" })
                if (File.Exists(Path.Combine(dir, name)))
                    result[Path.GetFileName(dir)] = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, name)));
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        await Queue.DisposeAsync();
        Pipeline.Dispose();
    }
}
