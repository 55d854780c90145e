using System.Text.Json;
using Diffusion.Core;
using Diffusion.Core.Schedules;

namespace Diffusion.Samplers.Tests;

public sealed class RegistryTests
{
    [Fact]
    public void EveryEntryCreatesASamplerOfThatName()
    {
        Assert.Equal(["ddpm", "ddim", "euler", "euler_a", "heun", "dpmpp_2m", "dpmpp_3m", "unipc"], SamplerRegistry.All.Select(i => i.Name));
        foreach (var info in SamplerRegistry.All)
        {
            Assert.Equal(info.Name, SamplerRegistry.Create(info.Name).Name);
            Assert.Equal(info.Name, SamplerRegistry.Create(info.Name.ToUpperInvariant()).Name);
            Assert.False(string.IsNullOrWhiteSpace(info.Description));
            Assert.InRange(info.RecommendedSteps, 1, 1000);
        }
    }

    [Fact]
    public void UnknownNameListsTheKnownOnes()
    {
        var e = Assert.Throws<DiffusionException>(() => SamplerRegistry.Create("dpm_fast"));
        Assert.Contains("'dpm_fast'", e.Message);
        foreach (var info in SamplerRegistry.All) Assert.Contains(info.Name, e.Message);
    }

    [Fact]
    public void OptionsValidateOnSet()
    {
        Assert.Throws<DiffusionException>(() => new DdimOptions { Eta = -0.1 });
        Assert.Throws<DiffusionException>(() => new EulerAncestralOptions { Eta = 1.5 });
        Assert.Throws<DiffusionException>(() => new UniPcOptions { Order = 4 });
        Assert.Throws<DiffusionException>(() => new SigmaScheduleOptions { Rho = 0 });
    }

    [Fact]
    public void OptionsRoundTripThroughJson()
    {
        RoundTrip(new DdpmOptions { Variance = DdpmVariance.Large, Spacing = TimestepSpacing.Linspace });
        RoundTrip(new DdimOptions { Eta = 0.3, Spacing = TimestepSpacing.Leading });
        RoundTrip(new EulerAncestralOptions { Eta = 0.5, Sigmas = new() { Spacing = SigmaSpacing.Timesteps } });
        RoundTrip(new UniPcOptions { Order = 3, UseCorrector = false, Sigmas = new() { Rho = 5 } });
        RoundTrip(new SigmaScheduleOptions { Spacing = SigmaSpacing.Timesteps, Timesteps = TimestepSpacing.Linspace });
        RoundTrip(new GuidanceOptions { Interval = new(100, 700), Rescale = 0.7 });
        Assert.Contains("\"Timesteps\"", JsonSerializer.Serialize(new SigmaScheduleOptions { Spacing = SigmaSpacing.Timesteps }));
    }

    private static void RoundTrip<T>(T options)
    {
        var json = JsonSerializer.Serialize(options);
        Assert.Equal(options, JsonSerializer.Deserialize<T>(json));
    }

    [Theory]
    [InlineData(SigmaSpacing.Karras, TimestepSpacing.Trailing)]
    [InlineData(SigmaSpacing.Timesteps, TimestepSpacing.Trailing)]
    [InlineData(SigmaSpacing.Timesteps, TimestepSpacing.Leading)]
    [InlineData(SigmaSpacing.Timesteps, TimestepSpacing.Linspace)]
    public void SigmaSchedulesAreStrictlyDecreasingAndEndAtZero(SigmaSpacing spacing, TimestepSpacing timesteps)
    {
        var options = new SigmaScheduleOptions { Spacing = spacing, Timesteps = timesteps };
        foreach (int n in new[] { 1, 2, 7, 50, 999, 1000 })
        {
            var sigmas = options.Build(Fixtures.Linear, n);
            Assert.Equal(n + 1, sigmas.Length);
            Assert.Equal(0, sigmas[^1]);
            for (int i = 1; i < sigmas.Length; i++) Assert.True(sigmas[i] < sigmas[i - 1], $"n={n}, i={i}");
        }
    }
}
