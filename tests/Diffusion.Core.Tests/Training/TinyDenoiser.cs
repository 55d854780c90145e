using Diffusion.Core;
using Diffusion.Core.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Diffusion.Core.Tests.Training;

/// <summary>A two-conv denoiser with a class embedding, small enough for trainer tests.</summary>
internal sealed class TinyDenoiser : nn.Module<Tensor, Tensor, Condition, Tensor>, IDenoiser
{
    private readonly Conv2d conv1;
    private readonly Conv2d conv2;
    private readonly Embedding classes;
    private readonly int _channels;

    public TinyDenoiser(int channels = 1, int numClasses = 3) : base(nameof(TinyDenoiser))
    {
        conv1 = nn.Conv2d(channels + 1, 16, 3, padding: 1);
        // 32 output channels averaged down: libtorch 2.10's CPU conv backward races for narrow outputs (see docs/known-issues.md).
        conv2 = nn.Conv2d(16, 32 * channels, 3, padding: 1);
        _channels = channels;
        classes = nn.Embedding(numClasses + 1, 16);
        RegisterComponents();
    }

    public Prediction Prediction => Prediction.Epsilon;

    public Tensor Predict(Tensor x, Tensor t, Condition condition) => forward(x, t, condition);

    public override Tensor forward(Tensor x, Tensor t, Condition condition)
    {
        using var scope = NewDisposeScope();
        var dtype = conv1.weight!.dtype;
        var tt = (t / 1000).to(dtype).reshape(-1, 1, 1, 1).expand(x.shape[0], 1, x.shape[2], x.shape[3]);
        var h = nn.functional.silu(conv1.forward(cat(new[] { x.to(dtype), tt }, 1)));
        if (condition.Labels is not null) h = h + classes.forward(condition.Labels).reshape(-1, 16, 1, 1);
        var o = conv2.forward(h).reshape(x.shape[0], _channels, 32, x.shape[2], x.shape[3]).mean(new long[] { 2 }); // (B, C, H, W)
        return o.to(ScalarType.Float32).MoveToOuterDisposeScope();
    }
}

/// <summary>Random images with labels, deterministic.</summary>
internal sealed class RandomData : ITrainingData
{
    private readonly Tensor _x;
    private readonly Tensor _y;
    private readonly Generator _g = new Generator(42, CPU);

    public RandomData(int count = 64, int size = 8)
    {
        var g = _g;
        _x = (rand(new long[] { count, 1, size, size }, generator: g) * 2 - 1).DetachFromDisposeScope();
        _y = randint(0, 3, new long[] { count }, generator: g).DetachFromDisposeScope();
    }

    public int Count => (int)_x.shape[0];

    public TrainingBatch GetBatch(Tensor indices)
        => new(_x.index_select(0, indices), _y.index_select(0, indices));
}
