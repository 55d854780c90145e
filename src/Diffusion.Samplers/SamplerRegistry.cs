using Diffusion.Core;

namespace Diffusion.Samplers;

/// <summary>What the registry knows about a sampler.</summary>
/// <param name="Name">The registry name, e.g. "ddim".</param>
/// <param name="Description">One line on what it is and when to use it.</param>
/// <param name="RecommendedSteps">The default step count: the fewest steps (to the nearest 5) at which the sampler
/// reproduces the standard deviation of an exact Gaussian test density within 3% on the linear T = 1000
/// schedule (sigma_max ≈ 157). Schedules with a smaller sigma_max, or a well-guided model, often do with fewer.</param>
public sealed record SamplerInfo(string Name, string Description, int RecommendedSteps);

/// <summary>
/// The samplers by name. <see cref="Create"/> looks a name up in a dictionary; adding a sampler is one
/// entry here. (Named <c>SamplerRegistry</c>, not <c>Samplers</c>, so it does not collide with the
/// <c>Diffusion.Samplers</c> namespace in user code.)
/// </summary>
public static class SamplerRegistry
{
    private static readonly (SamplerInfo Info, Func<ISampler> Create)[] Entries =
    [
        (new("ddpm", "Ancestral DDPM (Ho et al. 2020); stochastic, needs all T steps.", 1000), () => new DdpmSampler()),
        (new("ddim", "DDIM (Song et al. 2021) on trailing timesteps; deterministic with eta = 0, first order.", 150), () => new DdimSampler()),
        (new("euler", "Euler on the probability-flow ODE, Karras sigmas; deterministic, first order.", 100), () => new EulerSampler()),
        (new("euler_a", "Euler ancestral, Karras sigmas; stochastic, first order, forgiving of imperfect models.", 250), () => new EulerAncestralSampler()),
        (new("heun", "Heun (Karras et al. 2022, Algorithm 2); deterministic, second order, 2 evaluations a step.", 30), () => new HeunSampler()),
        (new("dpmpp_2m", "DPM-Solver++(2M) (Lu et al. 2022b); deterministic, second-order multistep; a good default.", 30), () => new DpmSolverPlusPlus2MSampler()),
        (new("dpmpp_3m", "DPM-Solver++(3M); deterministic, third-order multistep; for unguided sampling.", 25), () => new DpmSolverPlusPlus3MSampler()),
        (new("unipc", "UniPC bh2 predictor-corrector (Zhao et al. 2023); deterministic, third order at one evaluation a step.", 25), () => new UniPcSampler()),
    ];

    private static readonly Dictionary<string, (SamplerInfo Info, Func<ISampler> Create)> ByName =
        Entries.ToDictionary(e => e.Info.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>Every registered sampler, in a stable order.</summary>
    public static IReadOnlyList<SamplerInfo> All { get; } = Entries.Select(e => e.Info).ToArray();

    /// <summary>The known names, comma separated, for messages.</summary>
    public static string KnownNames => string.Join(", ", All.Select(i => i.Name));

    /// <summary>Creates the sampler called <paramref name="name"/> (case-insensitive) with default options.</summary>
    /// <exception cref="DiffusionException">No sampler has that name; the message lists the known ones.</exception>
    public static ISampler Create(string name) => Lookup(name).Create();

    /// <summary>The registry entry for <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="DiffusionException">No sampler has that name; the message lists the known ones.</exception>
    public static SamplerInfo Describe(string name) => Lookup(name).Info;

    private static (SamplerInfo Info, Func<ISampler> Create) Lookup(string name)
    {
        if (name is not null && ByName.TryGetValue(name.Trim(), out var entry)) return entry;
        throw new DiffusionException($"Unknown sampler '{name}'. Known samplers: {KnownNames}.");
    }
}
