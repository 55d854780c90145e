using Diffusion.Core;

namespace Diffusion.Evaluation;

/// <summary>How <see cref="SampleEvaluator"/> computes its metrics. Every property is validated when set.</summary>
public sealed record SampleMetricsOptions
{
    /// <summary>KID: random subsets averaged over. Default 100.</summary>
    /// <exception cref="DiffusionException">The value is below 1.</exception>
    public int KidSubsets
    {
        get;
        init => field = value >= 1 ? value : throw new DiffusionException($"KID needs at least one subset (got {value}).");
    } = 100;

    /// <summary>KID: samples per subset from each side, capped at N. Default 1000.</summary>
    /// <exception cref="DiffusionException">The value is below 2.</exception>
    public int KidSubsetSize
    {
        get;
        init => field = value >= 2 ? value : throw new DiffusionException($"KID subsets need at least 2 samples (got {value}).");
    } = 1000;

    /// <summary>Precision/recall: the k of the k-NN radii. Default 3 (Kynkäänniemi et al. 2019).</summary>
    /// <exception cref="DiffusionException">The value is below 1.</exception>
    public int PrecisionRecallK
    {
        get;
        init => field = value >= 1 ? value : throw new DiffusionException($"Precision/recall k must be at least 1 (got {value}).");
    } = 3;

    /// <summary>Inception Score: consecutive splits averaged over. Default 10.</summary>
    /// <exception cref="DiffusionException">The value is below 1.</exception>
    public int InceptionScoreSplits
    {
        get;
        init => field = value >= 1 ? value : throw new DiffusionException($"Inception Score splits must be at least 1 (got {value}).");
    } = 10;

    /// <summary>Seed of the real-image subsets (train subset of the floor; test subset when N is below the test split's
    /// size) and of KID's subsets. Default 0.</summary>
    public long Seed { get; init; }
}
