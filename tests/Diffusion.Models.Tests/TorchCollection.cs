namespace Diffusion.Models.Tests;

/// <summary>Tests that touch global torch state (RNG, dispose-scope statistics) run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TorchCollection
{
    public const string Name = "torch";
}
