using Diffusion.Core;
using static TorchSharp.torch;

namespace Diffusion.Core.Tests;

[Collection("torch")]
public sealed class ChunkedDenoiserTests
{
    /// <summary>Records the batch of every call; predicts x·(1 + t/1000) + label, row by row.</summary>
    private sealed class Recording : IDenoiser
    {
        public List<long> Calls { get; } = [];
        public Prediction Prediction => Prediction.Epsilon;
        public Tensor Predict(Tensor x, Tensor t, Condition condition)
        {
            Calls.Add(x.shape[0]);
            var y = x * (1 + t / 1000).reshape(-1, 1, 1, 1);
            return condition.Labels is { } l ? y + l.to(ScalarType.Float32).reshape(-1, 1, 1, 1) : y;
        }
    }

    [Fact]
    public void ChunksGiveTheSamePredictionAsOneCall()
    {
        using var scope = NewDisposeScope();
        var x = randn([10, 1, 3, 3], generator: new Generator(1, CPU));
        var t = arange(10, dtype: ScalarType.Float32) * 100;
        var cond = new Condition { Labels = arange(10L) % 3 };
        var whole = new Recording().Predict(x, t, cond);
        var inner = new Recording();
        var chunked = new ChunkedDenoiser(inner, 4).Predict(x, t, cond);
        Assert.Equal([4L, 4, 2], inner.Calls);
        Assert.Equal(whole.data<float>().ToArray(), chunked.data<float>().ToArray());
    }

    [Fact]
    public void SmallBatchesAreOneCallAndBadSizesAreRefused()
    {
        using var scope = NewDisposeScope();
        var inner = new Recording();
        new ChunkedDenoiser(inner, 8).Predict(randn(8, 1, 2, 2), zeros(8), Condition.None);
        Assert.Equal([8L], inner.Calls);
        Assert.Throws<DiffusionException>(() => new ChunkedDenoiser(inner, 0));
    }
}
