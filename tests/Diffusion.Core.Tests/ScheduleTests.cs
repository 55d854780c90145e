using Diffusion.Core;
using Diffusion.Core.Schedules;

namespace Diffusion.Core.Tests;

public sealed class ScheduleTests
{
    public static TheoryData<BetaSchedule, bool> Kinds => new()
    {
        { BetaSchedule.Linear, false }, { BetaSchedule.Cosine, false }, { BetaSchedule.Sigmoid, false },
        { BetaSchedule.Linear, true }, { BetaSchedule.Cosine, true },
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void AlphaBarIsStrictlyDecreasingInUnitInterval(BetaSchedule kind, bool ztsnr)
    {
        var s = new NoiseSchedule(new ScheduleOptions { Kind = kind, ZeroTerminalSnr = ztsnr });
        Assert.Equal(1000, s.TrainSteps);
        Assert.InRange(s.AlphaBars[0], 0.99, 1.0);
        for (int t = 1; t < s.TrainSteps; t++) Assert.True(s.AlphaBars[t] < s.AlphaBars[t - 1], $"t={t}");
        if (ztsnr) Assert.Equal(0.0, s.AlphaBars[^1], 12);
        else Assert.True(s.AlphaBars[^1] > 0);
    }

    [Fact]
    public void LinearScheduleMatchesClosedForm()
    {
        var s = new NoiseSchedule(new ScheduleOptions());
        double prod = 1;
        for (int t = 0; t < 1000; t++) prod *= 1 - (1e-4 + (0.02 - 1e-4) * t / 999.0);
        Assert.Equal(prod, s.AlphaBars[^1], 15);
    }

    [Theory]
    [InlineData(TimestepSpacing.Linspace)]
    [InlineData(TimestepSpacing.Leading)]
    [InlineData(TimestepSpacing.Trailing)]
    public void TimestepsAreDistinctDecreasingAndInRange(TimestepSpacing spacing)
    {
        var s = new NoiseSchedule(new ScheduleOptions { Kind = BetaSchedule.Cosine });
        foreach (int n in new[] { 1, 2, 7, 10, 50, 333, 999, 1000 })
        {
            var ts = s.Timesteps(n, spacing);
            Assert.Equal(n, ts.Length);
            Assert.All(ts, t => Assert.InRange(t, 0, 999));
            for (int i = 1; i < n; i++) Assert.True(ts[i] < ts[i - 1]);
            if (spacing == TimestepSpacing.Trailing) Assert.Equal(999, ts[0]);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1001)]
    public void StepsOutOfRangeThrowClearError(int steps)
    {
        var s = new NoiseSchedule(new ScheduleOptions());
        var e = Assert.Throws<DiffusionException>(() => s.Timesteps(steps));
        Assert.Contains("between 1 and 1000", e.Message);
    }

    [Fact]
    public void SigmaAndTimestepAreInverse()
    {
        var s = new NoiseSchedule(new ScheduleOptions { Kind = BetaSchedule.Cosine });
        foreach (double t in new[] { 0.0, 3.25, 100.0, 500.5, 998.9 })
            Assert.Equal(t, s.TimestepFromSigma(s.SigmaAt(t)), 9);
    }

    [Fact]
    public void KarrasSigmasDecreaseFromMaxToMinThenZero()
    {
        var s = new NoiseSchedule(new ScheduleOptions());
        var sig = s.KarrasSigmas(10);
        Assert.Equal(11, sig.Length);
        Assert.Equal(s.SigmaRange().Max, sig[0], 9);
        Assert.Equal(s.SigmaRange().Min, sig[9], 9);
        Assert.Equal(0, sig[10]);
        for (int i = 1; i < sig.Length; i++) Assert.True(sig[i] < sig[i - 1]);
    }
}
