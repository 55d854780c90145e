using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// Factories for the parameterised layers, drawing the initial weights from an explicit generator when
/// one is given. The distributions are PyTorch's defaults, so a model built with or without a generator
/// trains the same: convolution (<see cref="ChannelPaddedConv2d"/>) and linear weights and biases ~ U(−1/sqrt(fan_in), 1/sqrt(fan_in))
/// (kaiming_uniform with a = sqrt(5)), embeddings ~ N(0, 1), group-norm scale 1 and shift 0.
/// Always build group norms here: TorchSharp 0.107's <c>nn.GroupNorm</c> leaves its affine parameters
/// uninitialised (whatever the allocator held: zeros, huge values or NaN). Draws use the tensor methods
/// (<c>uniform_</c>, <c>normal_</c>) because 0.107's <c>nn.init.uniform_/normal_</c> ignore their generator.
/// </summary>
internal static class Layers
{
    public static ChannelPaddedConv2d Conv2d(long inChannels, long outChannels, long kernelSize, Generator? generator, long stride = 1, long padding = 0)
        => new(inChannels, outChannels, kernelSize, stride, padding, generator);

    public static Linear Linear(long inFeatures, long outFeatures, Generator? generator, bool bias = true)
    {
        var linear = nn.Linear(inFeatures, outFeatures, hasBias: bias);
        if (generator is not null) ResetUniform(linear.weight, linear.bias, inFeatures, generator);
        return linear;
    }

    public static GroupNorm GroupNorm(long groups, long channels, double eps = 1e-5)
    {
        var norm = nn.GroupNorm(groups, channels, eps);
        using var noGrad = no_grad();
        nn.init.ones_(norm.weight!);
        nn.init.zeros_(norm.bias!);
        return norm;
    }

    // Set explicitly for the same reason as the group norm: the affine parameters must start as the identity.
    public static LayerNorm LayerNorm(long features, double eps = 1e-5)
    {
        var norm = nn.LayerNorm(features, eps);
        using var noGrad = no_grad();
        nn.init.ones_(norm.weight!);
        nn.init.zeros_(norm.bias!);
        return norm;
    }

    public static Embedding Embedding(long rows, long dim, Generator? generator)
    {
        var embedding = nn.Embedding(rows, dim);
        if (generator is not null)
        {
            using var noGrad = no_grad();
            embedding.weight!.normal_(0, 1, generator);
        }
        return embedding;
    }

    private static void ResetUniform(Tensor weight, Tensor? bias, long fanIn, Generator generator)
    {
        using var noGrad = no_grad();
        double bound = 1 / Math.Sqrt(fanIn);
        weight.uniform_(-bound, bound, generator);
        bias?.uniform_(-bound, bound, generator);
    }
}
