using Diffusion.Core;
using Diffusion.Core.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Tests;

public sealed class DenoiserViewTests
{
    /// <summary>Predicts a fixed, large eps whatever the input.</summary>
    private sealed class ConstantEps(float value) : IDenoiser
    {
        public Prediction Prediction => Prediction.Epsilon;
        public Tensor Predict(Tensor x, Tensor t, Condition condition) => full_like(x, value);
    }

    [Fact]
    public void ClipSampleClampsX0AndKeepsTheForwardRelation()
    {
        var s = new NoiseSchedule(new ScheduleOptions());
        var view = new DenoiserView(new ConstantEps(3f), s, clipSample: 1.0);
        var xt = full(new long[] { 2, 1, 2, 2 }, 0.5f);
        int t = 900;
        var (x0, eps) = view.AtTimestep(xt, t, Condition.None);
        Assert.True(x0.abs().max().item<float>() <= 1.0f + 1e-6f);
        var rebuilt = x0 * (float)s.Alpha(t) + eps * (float)s.SigmaVp(t);
        Assert.True((rebuilt - xt).abs().max().item<float>() < 1e-5f);
    }

    [Fact]
    public void WithoutClipTheRawPredictionIsKept()
    {
        var s = new NoiseSchedule(new ScheduleOptions());
        var view = new DenoiserView(new ConstantEps(3f), s);
        var (x0, eps) = view.AtTimestep(full(new long[] { 1, 1, 2, 2 }, 0.5f), 900, Condition.None);
        Assert.Equal(3f, eps.max().item<float>(), 5);
        Assert.True(x0.abs().max().item<float>() > 1.0f);
    }

    [Fact]
    public void NonPositiveClipIsRejected()
        => Assert.Throws<DiffusionException>(() => new DenoiserView(new ConstantEps(0), new NoiseSchedule(new ScheduleOptions()), clipSample: 0));
}
