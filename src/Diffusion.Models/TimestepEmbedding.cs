using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// The MLP that lifts the sinusoidal timestep encoding to the embedding every residual block receives:
/// Linear → SiLU → Linear (diffusers' <c>TimestepEmbedding</c>; keys <c>linear_1</c>, <c>linear_2</c>).
/// </summary>
public sealed class TimestepEmbedding : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "linear_1")]
    private readonly Linear _linear1;

    [ComponentName(Name = "linear_2")]
    private readonly Linear _linear2;

    /// <summary>Creates the MLP.</summary>
    /// <param name="inDim">Width of the sinusoidal encoding.</param>
    /// <param name="embeddingDim">Width of the output embedding.</param>
    /// <param name="generator">Draws the initial weights; null uses the global generator.</param>
    public TimestepEmbedding(long inDim, long embeddingDim, Generator? generator = null) : base(nameof(TimestepEmbedding))
    {
        _linear1 = Layers.Linear(inDim, embeddingDim, generator);
        _linear2 = Layers.Linear(embeddingDim, embeddingDim, generator);
        RegisterComponents();
    }

    /// <summary>Maps an encoding (B, inDim) to an embedding (B, embeddingDim).</summary>
    public override Tensor forward(Tensor encoding)
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.silu(_linear1.call(encoding));
        return _linear2.call(h).MoveToOuterDisposeScope();
    }
}
