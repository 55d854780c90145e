namespace Diffusion.Pipelines;

/// <summary>Names inside a training run folder.</summary>
public static class RunFolders
{
    /// <summary>The sub-folder where a run keeps its EMA model in the pipeline layout (<see cref="PipelineFolder"/>).</summary>
    public const string ModelFolder = "model";
}
