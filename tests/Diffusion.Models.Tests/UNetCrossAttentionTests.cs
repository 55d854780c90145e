using Diffusion.Core;
using TorchSharp;
using static Diffusion.Models.Tests.TestModels;
using static TorchSharp.torch;

namespace Diffusion.Models.Tests;

[Collection(TorchCollection.Name)]
public sealed class UNetCrossAttentionTests
{
    private static Condition Ctx(Tensor context, Tensor? mask = null) => new() { Context = context, ContextMask = mask };

    [Fact]
    public void PerturbingTheContextChangesTheOutput()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var o = Cross();
        using var model = Build(o);
        model.eval();
        var x = Noise(o, 2);
        var t = Timesteps(10, 600);
        var context = Context(2, 5);
        var y = model.Predict(x, t, Ctx(context));
        Assert.Equal(x.shape, y.shape);
        Assert.True(y.isfinite().all().ToBoolean());
        var bumped = context.clone();
        bumped[1, 3] += 0.5f;
        var y2 = model.Predict(x, t, Ctx(bumped));
        // Only row 1's context changed: row 0 is untouched, row 1 moves.
        Assert.Equal(0f, MaxAbsDiff(y[0], y2[0]));
        Assert.True(MaxAbsDiff(y[1], y2[1]) > 1e-5, "the context did not reach the output");
    }

    [Theory]
    [InlineData(null)]
    [InlineData(2)]
    public void EveryCrossAttentionWeightGetsAGradient(int? depth)
    {
        using var scope = NewDisposeScope();
        var o = Cross(depth: depth);
        using var model = Build(o);
        var x = Noise(o, 2);
        var y = model.Predict(x, Timesteps(10, 600), Ctx(Context(2, 5), Mask(5, 5, 3)));
        (y - x).square().mean().backward();
        var attn2 = model.named_parameters().Where(p => p.name.Contains(".attn2.", StringComparison.Ordinal)).ToList();
        // 1 down attention per level (2 levels), 1 in the middle, 2 per up level; 5 tensors each (to_q, to_k, to_v, to_out.0 weight and bias).
        Assert.Equal((2 + 1 + 4) * (depth ?? 1) * 5, attn2.Count);
        foreach (var (name, p) in attn2)
        {
            Assert.True(p.grad is not null, $"{name} has no gradient");
            Assert.True(p.grad!.abs().sum().ToSingle() > 0, $"{name} has a zero gradient: the context does not reach it");
        }
        Assert.All(model.named_parameters(), p => Assert.True(p.parameter.grad!.isfinite().all().ToBoolean(), p.name));
    }

    [Fact]
    public void MaskedPaddingDoesNotChangeTheOutput()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var o = Cross();
        using var model = Build(o);
        model.eval();
        var x = Noise(o, 2);
        var t = Timesteps(10, 600);
        var context = Context(2, 6);
        var mask = Mask(6, 4, 2);
        var y = model.Predict(x, t, Ctx(context, mask));
        // Anything at the padding positions is ignored …
        var garbage = where(mask.unsqueeze(-1), context, Context(2, 6, seed: 9) * 100);
        Assert.True(y.equal(model.Predict(x, t, Ctx(garbage, mask))).all().ToBoolean(), "padding positions changed the output");
        // … and the result is that of the unpadded context, row by row.
        for (long row = 0; row < 2; row++)
        {
            long length = row == 0 ? 4 : 2;
            var alone = model.Predict(x[TensorIndex.Slice(row, row + 1)], t[TensorIndex.Slice(row, row + 1)],
                Ctx(context[TensorIndex.Slice(row, row + 1), TensorIndex.Slice(0, length)]));
            Assert.True(MaxAbsDiff(alone[0], y[row]) < 1e-5, $"row {row} differs from its unpadded context by {MaxAbsDiff(alone[0], y[row])}");
        }
        // Without the mask the padding does take part.
        Assert.True(MaxAbsDiff(y, model.Predict(x, t, Ctx(context))) > 1e-5);
    }

    [Fact]
    public void AFullyMaskedRowGivesFiniteOutputAndGradients()
    {
        using var scope = NewDisposeScope();
        var o = Cross();
        using var model = Build(o);
        var x = Noise(o, 2);
        var t = Timesteps(10, 600);
        var context = Context(2, 4);
        var mask = Mask(4, 3, 0); // row 1 has no real token
        var y = model.Predict(x, t, Ctx(context, mask));
        Assert.True(y.isfinite().all().ToBoolean(), "a fully masked row gave a non-finite output");
        (y - x).square().mean().backward();
        Assert.All(model.named_parameters(), p => Assert.True(p.parameter.grad!.isfinite().all().ToBoolean(), p.name));
        using var noGrad = no_grad();
        // The row's context is not read at all.
        var other = context.clone();
        other[1] = Context(1, 4, seed: 5)[0];
        Assert.True(y[1].equal(model.Predict(x, t, Ctx(other, mask))[1]).all().ToBoolean());
    }

    [Fact]
    public void ZeroResidualsWithContextChangeNothing()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var o = Cross(classes: 3);
        using var model = Build(o, seed: 4);
        model.eval();
        var x = Noise(o, 2);
        var t = Timesteps(10, 700);
        var c = Ctx(Context(2, 5), Mask(5, 5, 2)).With(Condition.Fields.Labels, Labels(0, 2));
        var plain = model.Predict(x, t, c);
        var (down, mid) = model.ResidualShapes(2);
        var withZeros = model.Forward(x, t, c, new UNetResiduals(down.Select(s => zeros(s)).ToArray(), zeros(mid)));
        Assert.True(plain.equal(withZeros).all().ToBoolean(), "zero residuals changed the output");
        var bumped = model.Forward(x, t, c, new UNetResiduals(down.Select(s => zeros(s)).ToArray(), ones(mid) * 0.5));
        Assert.True(MaxAbsDiff(bumped, plain) > 1e-4);
    }

    [Fact]
    public void ClassLabelsAndContextAreBothRead()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var o = Cross(classes: 3);
        using var model = Build(o);
        model.eval();
        var x = Noise(o, 2);
        var t = Timesteps(10, 600);
        var context = Context(2, 5);
        var y = model.Predict(x, t, Ctx(context).With(Condition.Fields.Labels, Labels(0, 1)));
        Assert.True(MaxAbsDiff(y, model.Predict(x, t, Ctx(context).With(Condition.Fields.Labels, Labels(2, 1)))) > 1e-5);
        Assert.True(MaxAbsDiff(y, model.Predict(x, t, Ctx(context * 2).With(Condition.Fields.Labels, Labels(0, 1)))) > 1e-5);
        // Labels stay optional (the null class), the context does not.
        Assert.True(model.Predict(x, t, Ctx(context)).isfinite().all().ToBoolean());
    }

    [Fact]
    public void MixedLayoutUsesSelfAttentionOutsideTheCrossLevels()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var o = Cross(crossLevels: [1]);
        using var model = Build(o);
        var keys = model.state_dict().Keys.ToHashSet();
        Assert.Contains("down_blocks.0.attentions.0.to_q.weight", keys);
        Assert.Contains("down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_q.weight", keys);
        Assert.Contains("up_blocks.1.attentions.1.group_norm.weight", keys);
        Assert.Contains("up_blocks.0.attentions.1.transformer_blocks.0.attn1.to_k.weight", keys);
        Assert.Contains("mid_block.attentions.0.transformer_blocks.0.attn2.to_v.weight", keys);
        Assert.DoesNotContain("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_q.weight", keys);
        var x = Noise(o, 2);
        Assert.True(model.Predict(x, Timesteps(1, 2), Ctx(Context(2, 3))).isfinite().all().ToBoolean());
    }

    [Fact]
    public void BFloat16CopyRunsForwardAndBackward()
    {
        using var scope = NewDisposeScope();
        var o = Cross(classes: 3);
        using var model = Build(o);
        model.to(ScalarType.BFloat16);
        var x = Noise(o, 2);
        var c = Ctx(Context(2, 5), Mask(5, 5, 0)).With(Condition.Fields.Labels, Labels(1, 3));
        var y = model.Predict(x, Timesteps(0.5f, 999f), c);
        Assert.Equal(ScalarType.Float32, y.dtype);
        Assert.True(y.isfinite().all().ToBoolean());
        (y - x).square().mean().backward();
        foreach (var (name, p) in model.named_parameters())
        {
            Assert.True(p.grad is not null, $"{name} has no gradient");
            Assert.Equal(ScalarType.BFloat16, p.grad!.dtype);
            Assert.True(p.grad.isfinite().all().ToBoolean(), $"{name} has a non-finite gradient");
        }
        Assert.Contains(model.named_parameters(), p => p.name.Contains(".attn2.to_k.", StringComparison.Ordinal) && p.parameter.grad!.abs().sum().ToSingle() > 0);
    }

    [Fact]
    public void BFloat16OutputIsCloseToFloat32()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var o = Cross();
        using var model = Build(o);
        var x = Noise(o, 2);
        var t = Timesteps(10, 900);
        var c = Ctx(Context(2, 5), Mask(5, 5, 2));
        var full = model.Predict(x, t, c);
        model.to(ScalarType.BFloat16);
        var half = model.Predict(x, t, c);
        float scale = full.abs().max().ToSingle();
        Assert.True(MaxAbsDiff(full, half) < 0.1f * scale, $"bf16 differs by {MaxAbsDiff(full, half)} (scale {scale})");
    }

    [Fact]
    public void Float32GradientsMatchFloat64()
    {
        using var scope = NewDisposeScope();
        var o = Cross(classes: 3);
        using var model = Build(o, seed: 3);
        using var reference = Build(o, seed: 3);
        reference.to(ScalarType.Float64);
        var x = Noise(o, 3);
        var t = Timesteps(0.5f, 300, 999);
        var cond = Ctx(Context(3, 4), Mask(4, 4, 2, 0)).With(Condition.Fields.Labels, Labels(0, 3, 1));
        var weights = randn(x.shape, generator: new Generator(5, CPU));

        var y = model.forward(x, t, cond);
        (y * weights).sum().backward();
        var yRef = reference.forward(x.to(ScalarType.Float64), t, cond); // the float32 context is cast to float64
        (yRef * weights).sum().backward();

        Assert.True(MaxAbsDiff(y, yRef) < 1e-4f, $"output differs by {MaxAbsDiff(y, yRef)}");
        var refGrads = reference.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!);
        foreach (var (name, p) in model.named_parameters())
        {
            var g = p.grad!.to(ScalarType.Float64);
            var r = refGrads[name];
            double scale = r.abs().max().ToDouble();
            if (scale < 1e-6) continue; // attention is invariant to some directions (e.g. a shift shared by all keys)
            double err = (g - r).abs().max().ToDouble();
            Assert.True(err < 1e-3 * scale, $"{name}: gradient differs by {err} (scale {scale})");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RepeatedForwardsLeaveNoLiveTensors(bool withGrad)
    {
        var o = Cross();
        using var model = Build(o);
        using var outer = NewDisposeScope();
        var x = Noise(o, 2);
        var t = Timesteps(1.5f, 400);
        var cond = Ctx(Context(2, 5), Mask(5, 5, 0));
        using (var warmUp = NewDisposeScope()) Step();

        long liveBefore = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        int ownedBefore = outer.DisposablesCount;
        for (int i = 0; i < 3; i++) Step();
        Assert.Equal(liveBefore, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        Assert.Equal(ownedBefore, outer.DisposablesCount);

        void Step()
        {
            using var gradMode = withGrad ? enable_grad() : no_grad();
            using var y = model.forward(x, t, cond);
            if (withGrad)
            {
                using var squared = y.square();
                using var loss = squared.mean();
                loss.backward();
                model.zero_grad();
            }
        }
    }
}
