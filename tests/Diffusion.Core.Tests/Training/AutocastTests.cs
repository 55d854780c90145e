using Diffusion.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Tests.Training;

[Collection("torch")]
public sealed class AutocastTests
{
    private static (nn.Module<Tensor, Tensor> Conv, Tensor X) Conv()
    {
        // Channel counts that are multiples of 16: oneDNN's blocked kernels miscompute others (docs/known-issues.md).
        manual_seed(3);
        var conv = nn.Conv2d(16, 16, 3, padding: 1);
        return (conv, randn(2, 16, 6, 6));
    }

    [Fact]
    public void LibtorchExportsTheEntryPoints() => Assert.True(Autocast.IsAvailable);

    [Fact]
    public void ConvolutionRunsInBFloat16InsideAndFloat32Outside()
    {
        using var d = NewDisposeScope();
        var (conv, x) = Conv();
        Assert.False(Autocast.IsEnabled(CPU));
        Tensor inside;
        using (Autocast.Enter(CPU))
        {
            Assert.True(Autocast.IsEnabled(CPU));
            inside = conv.call(x);
        }
        Assert.False(Autocast.IsEnabled(CPU));
        var outside = conv.call(x);
        Assert.Equal(ScalarType.BFloat16, inside.dtype);
        Assert.Equal(ScalarType.Float32, outside.dtype);
        // The same numbers up to bf16 rounding (8 mantissa bits).
        var err = (inside.to(ScalarType.Float32) - outside).abs().max().ToSingle();
        Assert.True(err < 0.02f * outside.abs().max().ToSingle(), $"bf16 convolution differs by {err}");
        Assert.True(err > 0, "the scope changed nothing");
    }

    [Fact]
    public void GradientsOfFloat32WeightsStayFloat32()
    {
        using var d = NewDisposeScope();
        var (conv, x) = Conv();
        Tensor loss;
        using (Autocast.Enter(CPU)) loss = conv.call(x).square().mean();
        loss.backward();
        foreach (var p in conv.parameters())
        {
            Assert.Equal(ScalarType.Float32, p.dtype);
            Assert.Equal(ScalarType.Float32, p.grad!.dtype);
            Assert.True(p.grad.abs().sum().ToSingle() > 0);
        }
    }

    [Fact]
    public void NestedScopesRestoreTheOuterState()
    {
        using var d = NewDisposeScope();
        var (conv, x) = Conv();
        using (Autocast.Enter(CPU))
        {
            using (Autocast.Enter(CPU)) Assert.True(Autocast.IsEnabled(CPU));
            Assert.True(Autocast.IsEnabled(CPU)); // the inner scope restored "on", not "off"
            Assert.Equal(ScalarType.BFloat16, conv.call(x).dtype);
        }
        Assert.False(Autocast.IsEnabled(CPU));
    }

    [Fact]
    public void SuspendRunsFloat32InsideAnAutocastScopeAndIsNullOutside()
    {
        using var d = NewDisposeScope();
        var (conv, x) = Conv();
        Assert.Null(Autocast.Suspend(CPU));
        using (Autocast.Enter(CPU))
        {
            using (var off = Autocast.Suspend(CPU))
            {
                Assert.NotNull(off);
                Assert.False(Autocast.IsEnabled(CPU));
                Assert.Equal(ScalarType.Float32, conv.call(x).dtype);
            }
            Assert.True(Autocast.IsEnabled(CPU));
            Assert.Equal(ScalarType.BFloat16, conv.call(x).dtype);
        }
        Assert.False(Autocast.IsEnabled(CPU));
    }

    [Fact]
    public void AnExceptionInsideTheScopeLeavesAutocastOff()
    {
        try
        {
            using var amp = Autocast.Enter(CPU);
            throw new InvalidOperationException("boom");
        }
        catch (InvalidOperationException) { }
        Assert.False(Autocast.IsEnabled(CPU));
        using var d = NewDisposeScope();
        var (conv, x) = Conv();
        Assert.Equal(ScalarType.Float32, conv.call(x).dtype);
    }

    [Fact]
    public void TheFlagIsPerThread()
    {
        using var amp = Autocast.Enter(CPU);
        bool other = true;
        var thread = new Thread(() => other = Autocast.IsEnabled(CPU));
        thread.Start();
        thread.Join();
        Assert.False(other);
        Assert.True(Autocast.IsEnabled(CPU));
    }

    [Fact]
    public void DisposingOnAnotherThreadIsRefused()
    {
        var amp = Autocast.Enter(CPU);
        Exception? error = null;
        var thread = new Thread(() => { try { amp.Dispose(); } catch (Exception e) { error = e; } });
        thread.Start();
        thread.Join();
        Assert.IsType<InvalidOperationException>(error);
        Assert.True(Autocast.IsEnabled(CPU)); // still open on this thread
        amp.Dispose();
        Assert.False(Autocast.IsEnabled(CPU));
    }

    [Fact]
    public void Float32IsNotALowerPrecision()
    {
        var e = Assert.Throws<DiffusionException>(() => Autocast.Enter(CPU, ScalarType.Float32));
        Assert.Contains("bfloat16", e.Message);
        Assert.False(Autocast.IsEnabled(CPU));
    }
}
