using Diffusion.Core;

namespace Diffusion.Evaluation;

/// <summary>Options of <see cref="Tsne"/>; every property is validated when set.</summary>
public sealed record TsneOptions
{
    /// <summary>Effective number of neighbours each point's Gaussian covers (van der Maaten &amp; Hinton 2008, Sec. 2);
    /// typical 5–50, must be below the number of points. Default 30.</summary>
    /// <exception cref="DiffusionException">The value is below 1.</exception>
    public double Perplexity
    {
        get;
        init => field = value >= 1 ? value : throw new DiffusionException($"t-SNE perplexity must be at least 1 (got {value}).");
    } = 30;

    /// <summary>Gradient-descent iterations. Default 1000.</summary>
    /// <exception cref="DiffusionException">The value is below 1.</exception>
    public int Iterations
    {
        get;
        init => field = value >= 1 ? value : throw new DiffusionException($"t-SNE iterations must be at least 1 (got {value}).");
    } = 1000;

    /// <summary>Factor on P during the first <see cref="ExaggerationIterations"/> iterations, which pulls clusters apart early. Default 12.</summary>
    /// <exception cref="DiffusionException">The value is below 1.</exception>
    public double EarlyExaggeration
    {
        get;
        init => field = value >= 1 ? value : throw new DiffusionException($"t-SNE early exaggeration must be at least 1 (got {value}).");
    } = 12;

    /// <summary>Iterations with early exaggeration and momentum 0.5 (afterwards momentum 0.8). Default 250.</summary>
    /// <exception cref="DiffusionException">The value is negative.</exception>
    public int ExaggerationIterations
    {
        get;
        init => field = value >= 0 ? value : throw new DiffusionException($"t-SNE exaggeration iterations must not be negative (got {value}).");
    } = 250;

    /// <summary>Gradient-descent step size; 0 picks max(N / EarlyExaggeration / 4, 50) (Belkina et al. 2019). Default 0.</summary>
    /// <exception cref="DiffusionException">The value is negative.</exception>
    public double LearningRate
    {
        get;
        init => field = value >= 0 ? value : throw new DiffusionException($"t-SNE learning rate must not be negative (got {value}).");
    }

    /// <summary>Seed of the initial embedding. Default 0.</summary>
    public long Seed { get; init; }
}
