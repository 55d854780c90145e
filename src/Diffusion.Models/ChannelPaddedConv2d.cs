using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// A square-kernel 2-D convolution with <c>nn.Conv2d</c>'s parameters and state-dict keys (<c>weight</c>,
/// <c>bias</c>) that, on the CPU, zero-pads channel counts that are not multiples of 16 before calling
/// the kernel and slices the result afterwards. The result is mathematically unchanged.
/// </summary>
/// <remarks>
/// Why: the oneDNN kernels in libtorch 2.10 (TorchSharp 0.107) on our AVX-512 machines compute wrong
/// values or NaN whenever a channel count must be padded to the 16-wide blocked layout and the batch has
/// more than one row: the forward pass for in_channels such as 24 or 40, the input gradient for
/// out_channels below 16 (conv_out with 1 or 3 channels), in float32 and bfloat16 alike. Padding the
/// channels ourselves keeps oneDNN on exact multiples of 16. The extra cost is small: only conv_in and
/// conv_out have such channel counts in the presets.
/// </remarks>
internal sealed class ChannelPaddedConv2d : nn.Module<Tensor, Tensor>
{
    private const long Block = 16;

    private readonly long _inChannels, _outChannels, _stride, _padding;

    // Not readonly: Module.to(dtype or device) replaces parameters through these fields.
    [ComponentName(Name = "weight")]
    private Parameter _weight;

    [ComponentName(Name = "bias")]
    private Parameter _bias;

    /// <summary>Creates the convolution; weights and bias ~ U(−1/sqrt(fan_in), 1/sqrt(fan_in)) as in PyTorch.</summary>
    public ChannelPaddedConv2d(long inChannels, long outChannels, long kernelSize, long stride, long padding, Generator? generator)
        : base(nameof(ChannelPaddedConv2d))
    {
        (_inChannels, _outChannels, _stride, _padding) = (inChannels, outChannels, stride, padding);
        double bound = 1 / Math.Sqrt(inChannels * kernelSize * kernelSize);
        using (no_grad())
        {
            _weight = new Parameter(empty(outChannels, inChannels, kernelSize, kernelSize).uniform_(-bound, bound, generator));
            _bias = new Parameter(empty(outChannels).uniform_(-bound, bound, generator));
        }
        RegisterComponents();
    }

    /// <summary>The dtype of the parameters. (No public <c>weight</c> property: Module.to would try to set it.)</summary>
    public ScalarType ParameterType => _weight.dtype;

    /// <summary>Maps (B, in, H, W) to (B, out, H', W').</summary>
    public override Tensor forward(Tensor x)
    {
        long inPad = RoundUp(_inChannels) - _inChannels, outPad = RoundUp(_outChannels) - _outChannels;
        if (x.device_type != DeviceType.CPU || (inPad == 0 && outPad == 0))
            return nn.functional.conv2d(x, _weight, _bias, strides: new[] { _stride, _stride }, padding: new[] { _padding, _padding });

        using var scope = NewDisposeScope();
        var w = nn.functional.pad(_weight, new long[] { 0, 0, 0, 0, 0, inPad, 0, outPad }); // (out + outPad, in + inPad, k, k)
        var b = nn.functional.pad(_bias, new long[] { 0, outPad }); // (out + outPad)
        var xp = inPad == 0 ? x : nn.functional.pad(x, new long[] { 0, 0, 0, 0, 0, inPad }); // (B, in + inPad, H, W)
        var y = nn.functional.conv2d(xp, w, b, strides: new[] { _stride, _stride }, padding: new[] { _padding, _padding }); // (B, out + outPad, H', W')
        return (outPad == 0 ? y : y.narrow(1, 0, _outChannels)).MoveToOuterDisposeScope(); // (B, out, H', W')
    }

    private static long RoundUp(long channels) => (channels + Block - 1) / Block * Block;
}
