using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using F = TorchSharp.torch.nn.functional;

namespace Diffusion.Evaluation;

// The building blocks of the FID Inception network (Szegedy et al. 2016, "Rethinking the Inception Architecture",
// Figs. 5–7) with the tensor names of torchvision's Inception3, which pytorch-fid's pt_inception-2015-12-05 state dict
// uses. The blocks A, C and E are pytorch-fid's FID variants of TensorFlow's 2015 graph: their pooling branch averages
// without counting the zero padding, and the last E block max-pools instead.

/// <summary>Convolution (no bias) → batch norm (ε = 0.001) → ReLU; tensors "conv.weight" and "bn.*".</summary>
internal sealed class BasicConv2d : Module<Tensor, Tensor>
{
    private const long ChannelBlock = 16;
    private readonly Conv2d conv;
    private readonly BatchNorm2d bn;
    private readonly long[] _stride, _padding;
    private readonly long _inChannels;

    public BasicConv2d(long inChannels, long outChannels, (long H, long W) kernel, (long H, long W)? stride = null, (long H, long W)? padding = null)
        : base(nameof(BasicConv2d))
    {
        var s = stride ?? (1, 1);
        var p = padding ?? (0, 0);
        _inChannels = inChannels;
        _stride = new[] { s.H, s.W };
        _padding = new[] { p.H, p.W };
        conv = Conv2d(inChannels, outChannels, kernel, stride: s, padding: p, bias: false);
        bn = BatchNorm2d(outChannels, eps: 0.001);
        RegisterComponents();
    }

    public BasicConv2d(long inChannels, long outChannels, long kernel, long stride = 1, long padding = 0)
        : this(inChannels, outChannels, (kernel, kernel), (stride, stride), (padding, padding)) { }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor w = conv.weight!;
        // oneDNN's CPU convolution is unreliable for channel counts that are not multiples of 16 (docs/known-issues.md):
        // the stem's 3 input channels are zero-padded to 16, which leaves the result unchanged.
        long pad = (ChannelBlock - _inChannels % ChannelBlock) % ChannelBlock;
        if (pad > 0 && x.device_type == DeviceType.CPU)
        {
            x = F.pad(x, new long[] { 0, 0, 0, 0, 0, pad });   // (B, C + pad, H, W)
            w = F.pad(w, new long[] { 0, 0, 0, 0, 0, pad });   // (out, C + pad, kh, kw)
        }
        var y = F.conv2d(x, w, null, _stride, _padding);
        return F.relu(bn.call(y)).MoveToOuterDisposeScope();
    }
}

/// <summary>3 × 3 average pooling, stride 1, that divides by the number of real (unpadded) pixels: the FID variant.</summary>
internal static class FidPooling
{
    public static Tensor Average(Tensor x) => F.avg_pool2d(x, new long[] { 3, 3 }, new long[] { 1, 1 }, new long[] { 1, 1 }, count_include_pad: false);
}

/// <summary>pytorch-fid's FIDInceptionA (35 × 35 grid): 1×1, 5×5, double 3×3 and pooling branches; 224 + poolFeatures channels out.</summary>
internal sealed class FidInceptionA : Module<Tensor, Tensor>
{
    [ComponentName(Name = "branch1x1")] private readonly BasicConv2d b1;
    [ComponentName(Name = "branch5x5_1")] private readonly BasicConv2d b5a;
    [ComponentName(Name = "branch5x5_2")] private readonly BasicConv2d b5b;
    [ComponentName(Name = "branch3x3dbl_1")] private readonly BasicConv2d b3a;
    [ComponentName(Name = "branch3x3dbl_2")] private readonly BasicConv2d b3b;
    [ComponentName(Name = "branch3x3dbl_3")] private readonly BasicConv2d b3c;
    [ComponentName(Name = "branch_pool")] private readonly BasicConv2d pool;

    public FidInceptionA(long inChannels, long poolFeatures) : base(nameof(FidInceptionA))
    {
        b1 = new BasicConv2d(inChannels, 64, 1);
        b5a = new BasicConv2d(inChannels, 48, 1);
        b5b = new BasicConv2d(48, 64, 5, padding: 2);
        b3a = new BasicConv2d(inChannels, 64, 1);
        b3b = new BasicConv2d(64, 96, 3, padding: 1);
        b3c = new BasicConv2d(96, 96, 3, padding: 1);
        pool = new BasicConv2d(inChannels, poolFeatures, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var branches = new[]
        {
            b1.call(x),                                   // (B, 64, H, W)
            b5b.call(b5a.call(x)),                        // (B, 64, H, W)
            b3c.call(b3b.call(b3a.call(x))),              // (B, 96, H, W)
            pool.call(FidPooling.Average(x)),             // (B, poolFeatures, H, W)
        };
        return cat(branches, 1).MoveToOuterDisposeScope();
    }
}

/// <summary>torchvision's InceptionB (grid reduction 35 → 17): strided 3×3, strided double 3×3 and max-pool branches.</summary>
internal sealed class InceptionB : Module<Tensor, Tensor>
{
    [ComponentName(Name = "branch3x3")] private readonly BasicConv2d b3;
    [ComponentName(Name = "branch3x3dbl_1")] private readonly BasicConv2d b3a;
    [ComponentName(Name = "branch3x3dbl_2")] private readonly BasicConv2d b3b;
    [ComponentName(Name = "branch3x3dbl_3")] private readonly BasicConv2d b3c;

    public InceptionB(long inChannels) : base(nameof(InceptionB))
    {
        b3 = new BasicConv2d(inChannels, 384, 3, stride: 2);
        b3a = new BasicConv2d(inChannels, 64, 1);
        b3b = new BasicConv2d(64, 96, 3, padding: 1);
        b3c = new BasicConv2d(96, 96, 3, stride: 2);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var branches = new[]
        {
            b3.call(x),                                   // (B, 384, H', W')
            b3c.call(b3b.call(b3a.call(x))),              // (B, 96, H', W')
            F.max_pool2d(x, 3, stride: 2),                // (B, in, H', W')
        };
        return cat(branches, 1).MoveToOuterDisposeScope();
    }
}

/// <summary>pytorch-fid's FIDInceptionC (17 × 17 grid): factorised 7×7 branches of width c7; 768 channels out.</summary>
internal sealed class FidInceptionC : Module<Tensor, Tensor>
{
    [ComponentName(Name = "branch1x1")] private readonly BasicConv2d b1;
    [ComponentName(Name = "branch7x7_1")] private readonly BasicConv2d b7a;
    [ComponentName(Name = "branch7x7_2")] private readonly BasicConv2d b7b;
    [ComponentName(Name = "branch7x7_3")] private readonly BasicConv2d b7c;
    [ComponentName(Name = "branch7x7dbl_1")] private readonly BasicConv2d d7a;
    [ComponentName(Name = "branch7x7dbl_2")] private readonly BasicConv2d d7b;
    [ComponentName(Name = "branch7x7dbl_3")] private readonly BasicConv2d d7c;
    [ComponentName(Name = "branch7x7dbl_4")] private readonly BasicConv2d d7d;
    [ComponentName(Name = "branch7x7dbl_5")] private readonly BasicConv2d d7e;
    [ComponentName(Name = "branch_pool")] private readonly BasicConv2d pool;

    public FidInceptionC(long inChannels, long c7) : base(nameof(FidInceptionC))
    {
        b1 = new BasicConv2d(inChannels, 192, 1);
        b7a = new BasicConv2d(inChannels, c7, 1);
        b7b = new BasicConv2d(c7, c7, (1, 7), padding: (0, 3));
        b7c = new BasicConv2d(c7, 192, (7, 1), padding: (3, 0));
        d7a = new BasicConv2d(inChannels, c7, 1);
        d7b = new BasicConv2d(c7, c7, (7, 1), padding: (3, 0));
        d7c = new BasicConv2d(c7, c7, (1, 7), padding: (0, 3));
        d7d = new BasicConv2d(c7, c7, (7, 1), padding: (3, 0));
        d7e = new BasicConv2d(c7, 192, (1, 7), padding: (0, 3));
        pool = new BasicConv2d(inChannels, 192, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var branches = new[]
        {
            b1.call(x),                                                       // (B, 192, H, W)
            b7c.call(b7b.call(b7a.call(x))),                                  // (B, 192, H, W)
            d7e.call(d7d.call(d7c.call(d7b.call(d7a.call(x))))),              // (B, 192, H, W)
            pool.call(FidPooling.Average(x)),                                 // (B, 192, H, W)
        };
        return cat(branches, 1).MoveToOuterDisposeScope();
    }
}

/// <summary>torchvision's InceptionD (grid reduction 17 → 8): strided 3×3, strided 7×7-then-3×3 and max-pool branches.</summary>
internal sealed class InceptionD : Module<Tensor, Tensor>
{
    [ComponentName(Name = "branch3x3_1")] private readonly BasicConv2d b3a;
    [ComponentName(Name = "branch3x3_2")] private readonly BasicConv2d b3b;
    [ComponentName(Name = "branch7x7x3_1")] private readonly BasicConv2d b7a;
    [ComponentName(Name = "branch7x7x3_2")] private readonly BasicConv2d b7b;
    [ComponentName(Name = "branch7x7x3_3")] private readonly BasicConv2d b7c;
    [ComponentName(Name = "branch7x7x3_4")] private readonly BasicConv2d b7d;

    public InceptionD(long inChannels) : base(nameof(InceptionD))
    {
        b3a = new BasicConv2d(inChannels, 192, 1);
        b3b = new BasicConv2d(192, 320, 3, stride: 2);
        b7a = new BasicConv2d(inChannels, 192, 1);
        b7b = new BasicConv2d(192, 192, (1, 7), padding: (0, 3));
        b7c = new BasicConv2d(192, 192, (7, 1), padding: (3, 0));
        b7d = new BasicConv2d(192, 192, 3, stride: 2);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var branches = new[]
        {
            b3b.call(b3a.call(x)),                                            // (B, 320, H', W')
            b7d.call(b7c.call(b7b.call(b7a.call(x)))),                        // (B, 192, H', W')
            F.max_pool2d(x, 3, stride: 2),                                    // (B, in, H', W')
        };
        return cat(branches, 1).MoveToOuterDisposeScope();
    }
}

/// <summary>pytorch-fid's FIDInceptionE_1 / FIDInceptionE_2 (8 × 8 grid): expanded 1×3 / 3×1 branches; 2048 channels out.
/// The first averages without the padding, the second max-pools (a quirk of the TensorFlow graph FID was defined on).</summary>
internal sealed class FidInceptionE : Module<Tensor, Tensor>
{
    [ComponentName(Name = "branch1x1")] private readonly BasicConv2d b1;
    [ComponentName(Name = "branch3x3_1")] private readonly BasicConv2d b3;
    [ComponentName(Name = "branch3x3_2a")] private readonly BasicConv2d b3Row;
    [ComponentName(Name = "branch3x3_2b")] private readonly BasicConv2d b3Col;
    [ComponentName(Name = "branch3x3dbl_1")] private readonly BasicConv2d d3a;
    [ComponentName(Name = "branch3x3dbl_2")] private readonly BasicConv2d d3b;
    [ComponentName(Name = "branch3x3dbl_3a")] private readonly BasicConv2d d3Row;
    [ComponentName(Name = "branch3x3dbl_3b")] private readonly BasicConv2d d3Col;
    [ComponentName(Name = "branch_pool")] private readonly BasicConv2d pool;
    private readonly bool _maxPool;

    public FidInceptionE(long inChannels, bool maxPool) : base(nameof(FidInceptionE))
    {
        _maxPool = maxPool;
        b1 = new BasicConv2d(inChannels, 320, 1);
        b3 = new BasicConv2d(inChannels, 384, 1);
        b3Row = new BasicConv2d(384, 384, (1, 3), padding: (0, 1));
        b3Col = new BasicConv2d(384, 384, (3, 1), padding: (1, 0));
        d3a = new BasicConv2d(inChannels, 448, 1);
        d3b = new BasicConv2d(448, 384, 3, padding: 1);
        d3Row = new BasicConv2d(384, 384, (1, 3), padding: (0, 1));
        d3Col = new BasicConv2d(384, 384, (3, 1), padding: (1, 0));
        pool = new BasicConv2d(inChannels, 192, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var t = b3.call(x);
        var d = d3b.call(d3a.call(x));
        var pooled = _maxPool ? F.max_pool2d(x, 3, stride: 1, padding: 1) : FidPooling.Average(x);
        var branches = new[]
        {
            b1.call(x),                                                       // (B, 320, H, W)
            b3Row.call(t), b3Col.call(t),                                     // (B, 384 + 384, H, W)
            d3Row.call(d), d3Col.call(d),                                     // (B, 384 + 384, H, W)
            pool.call(pooled),                                                // (B, 192, H, W)
        };
        return cat(branches, 1).MoveToOuterDisposeScope();
    }
}
