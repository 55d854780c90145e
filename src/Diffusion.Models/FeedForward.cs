using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// The transformer's position-wise feed-forward layer with a GEGLU gate (Shazeer 2020, eq. 6; diffusers'
/// <c>FeedForward</c> with <c>activation_fn="geglu"</c>): <c>net.0</c> = GEGLU (its <c>proj</c> maps dim → 2·4·dim),
/// <c>net.1</c> = dropout, <c>net.2</c> = Linear(4·dim → dim).
/// </summary>
internal sealed class FeedForward : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "net")]
    private readonly ModuleList<nn.Module<Tensor, Tensor>> _net;

    /// <param name="dim">Width of the tokens.</param>
    /// <param name="dropout">Dropout probability between the two projections.</param>
    /// <param name="generator">Draws the initial weights; null uses the global generator.</param>
    public FeedForward(long dim, double dropout, Generator? generator) : base(nameof(FeedForward))
    {
        long inner = 4 * dim;
        _net = nn.ModuleList<nn.Module<Tensor, Tensor>>(new Geglu(dim, inner, generator), nn.Dropout(dropout), Layers.Linear(inner, dim, generator));
        RegisterComponents();
    }

    /// <summary>Maps tokens (B, N, dim) to (B, N, dim).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        foreach (var layer in _net) x = layer.call(x); // (B, N, 4·dim), then (B, N, dim)
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>GEGLU(x) = a ⊙ GELU(g) where (a, g) = split(proj(x)) (Shazeer 2020, eq. 6; diffusers' <c>GEGLU</c>, key <c>proj</c>).</summary>
internal sealed class Geglu : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "proj")]
    private readonly Linear _proj;

    /// <param name="dimIn">Width of the input.</param>
    /// <param name="dimOut">Width of the output; the projection is twice as wide (value and gate).</param>
    /// <param name="generator">Draws the initial weights; null uses the global generator.</param>
    public Geglu(long dimIn, long dimOut, Generator? generator) : base(nameof(Geglu))
    {
        _proj = Layers.Linear(dimIn, 2 * dimOut, generator);
        RegisterComponents();
    }

    /// <summary>Maps (…, dimIn) to (…, dimOut).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var halves = _proj.call(x).chunk(2, -1); // 2 × (…, dimOut): value, gate
        return (halves[0] * nn.functional.gelu(halves[1])).MoveToOuterDisposeScope();
    }
}
