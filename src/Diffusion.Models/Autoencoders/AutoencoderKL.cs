using Diffusion.Core;
using Diffusion.Core.Components;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Models;

/// <summary>
/// A KL-regularised autoencoder for latent diffusion (Rombach et al. 2022, Sec. 3 and App. G; diffusers'
/// <c>AutoencoderKL</c>): an encoder of residual blocks with a middle attention block maps an image to the mean and
/// log-variance of a diagonal Gaussian over a latent with <see cref="AutoencoderKLOptions.LatentChannels"/> channels at
/// 1 / <see cref="DownsampleFactor"/> of the resolution (<c>quant_conv</c> mixes the two halves), and the mirrored
/// decoder maps a latent back (after <c>post_quant_conv</c>). Its state dict and <c>config.json</c> use diffusers'
/// names, so the weights of the same architecture load either way.
/// </summary>
/// <remarks>The module may be converted to bfloat16; inputs are cast to the parameters' dtype and outputs returned as float32.</remarks>
public sealed class AutoencoderKL : nn.Module<Tensor, Tensor>, IAutoencoder
{
    /// <summary>The <c>_class_name</c> of this component in a pipeline folder (diffusers' class).</summary>
    public const string ClassName = "AutoencoderKL";

    [ComponentName(Name = "encoder")]
    private readonly VaeEncoder _encoder;

    [ComponentName(Name = "decoder")]
    private readonly VaeDecoder _decoder;

    [ComponentName(Name = "quant_conv")]
    private readonly ChannelPaddedConv2d _quantConv;

    [ComponentName(Name = "post_quant_conv")]
    private readonly ChannelPaddedConv2d _postQuantConv;

    /// <summary>Builds a randomly initialised autoencoder.</summary>
    /// <param name="options">The architecture (validated).</param>
    /// <param name="generator">Draws the initial weights; null uses the global generator.</param>
    /// <exception cref="DiffusionException">The options are invalid.</exception>
    public AutoencoderKL(AutoencoderKLOptions options, Generator? generator = null) : base(nameof(AutoencoderKL))
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _encoder = new VaeEncoder(options, generator);
        _decoder = new VaeDecoder(options, generator);
        _quantConv = Layers.Conv2d(2 * options.LatentChannels, 2 * options.LatentChannels, 1, generator);
        _postQuantConv = Layers.Conv2d(options.LatentChannels, options.LatentChannels, 1, generator);
        RegisterComponents();
    }

    /// <summary>The architecture.</summary>
    public AutoencoderKLOptions Options { get; }

    /// <inheritdoc />
    public int ImageChannels => Options.ImageChannels;

    /// <inheritdoc />
    public int LatentChannels => Options.LatentChannels;

    /// <inheritdoc />
    public int DownsampleFactor => Options.DownsampleFactor;

    /// <inheritdoc />
    public double ScalingFactor => Options.ScalingFactor;

    /// <summary>The number of scalar parameters.</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>The dtype of the parameters.</summary>
    public ScalarType ParameterType => _encoder.ParameterType;

    /// <summary>The posterior q(z | x) of images in [−1, 1], unscaled (the raw latent space, before <see cref="ScalingFactor"/>).</summary>
    /// <param name="images">(B, <see cref="ImageChannels"/>, H, W), H and W multiples of <see cref="DownsampleFactor"/>.</param>
    /// <returns>Mean and log-variance (B, latent, H/f, W/f), float32, in the caller's dispose scope.</returns>
    /// <exception cref="DiffusionException">The images have the wrong channels or a size the factor does not divide.</exception>
    public DiagonalGaussian EncodeDistribution(Tensor images)
    {
        CheckImages(images);
        using var scope = NewDisposeScope();
        var moments = _quantConv.call(_encoder.call(images.to(ParameterType))).to(ScalarType.Float32); // (B, 2·latent, h, w)
        var parts = moments.chunk(2, 1);
        var mean = parts[0].MoveToOuterDisposeScope();
        var logVar = parts[1].clamp(-30.0, 20.0).MoveToOuterDisposeScope();
        return new DiagonalGaussian(mean, logVar);
    }

    /// <summary>Decodes unscaled latents (the raw latent space) to images, float32, roughly in [−1, 1].</summary>
    /// <exception cref="DiffusionException">The latents do not have <see cref="LatentChannels"/> channels.</exception>
    public Tensor DecodeRaw(Tensor z)
    {
        CheckLatents(z);
        using var scope = NewDisposeScope();
        return _decoder.call(_postQuantConv.call(z.to(ParameterType))).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public Tensor Encode(Tensor images, Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        var posterior = EncodeDistribution(images);
        var z = generator is null ? posterior.Mean : posterior.Sample(generator);
        return (z * ScalingFactor).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public Tensor Decode(Tensor latents)
    {
        CheckLatents(latents);
        using var scope = NewDisposeScope();
        return DecodeRaw(latents.to(ScalarType.Float32) / ScalingFactor).MoveToOuterDisposeScope();
    }

    /// <summary>Reconstructs images through the posterior mean: decode(mean(encode(x))).</summary>
    public override Tensor forward(Tensor images)
    {
        using var scope = NewDisposeScope();
        return DecodeRaw(EncodeDistribution(images).Mean).MoveToOuterDisposeScope();
    }

    /// <summary>The same modules seen as a network the SDK's <see cref="Core.Training.Trainer"/> takes (x, t, condition → x);
    /// its state dict has exactly this autoencoder's keys, and training it trains this autoencoder.</summary>
    public nn.Module<Tensor, Tensor, Condition, Tensor> ForTraining() => new AutoencoderKLTrainingView(this, _encoder, _decoder, _quantConv, _postQuantConv);

    /// <summary>Writes <c>config.json</c> (diffusers' <c>AutoencoderKL</c> names) and the float32 weights into <paramref name="folder"/>.</summary>
    public void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        AutoencoderKLConfig.Save(Options, folder);
        ComponentWeights.Save(this, folder);
    }

    /// <summary>Reads an autoencoder written by <see cref="Save"/> (or by diffusers for this architecture), strictly, in eval mode.</summary>
    /// <exception cref="DiffusionException">The config is missing, names another class or an unsupported architecture, or the weights do not match.</exception>
    public static AutoencoderKL Load(string folder)
    {
        var options = AutoencoderKLConfig.Load(folder);
        var vae = new AutoencoderKL(options);
        try
        {
            ComponentWeights.Load(vae, folder);
            vae.eval();
            return vae;
        }
        catch
        {
            vae.Dispose();
            throw;
        }
    }

    private void CheckImages(Tensor images)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.dim() != 4 || images.shape[1] != ImageChannels || !images.is_floating_point())
            throw new DiffusionException($"The VAE expects float images of shape (B, {ImageChannels}, H, W), got {images.dtype} of shape ({string.Join(", ", images.shape)}).");
        this.LatentShape(images.shape[2], images.shape[3]);
    }

    private void CheckLatents(Tensor z)
    {
        ArgumentNullException.ThrowIfNull(z);
        if (z.dim() != 4 || z.shape[1] != LatentChannels)
            throw new DiffusionException($"The VAE decodes latents of shape (B, {LatentChannels}, h, w), got ({string.Join(", ", z.shape)}).");
    }
}

/// <summary>An <see cref="AutoencoderKL"/>'s modules registered under the same names in a module of the trainer's shape;
/// <c>forward</c> reconstructs through the posterior mean and ignores t and the condition.</summary>
internal sealed class AutoencoderKLTrainingView : nn.Module<Tensor, Tensor, Condition, Tensor>
{
    public AutoencoderKLTrainingView(AutoencoderKL vae, nn.Module encoder, nn.Module decoder, nn.Module quantConv, nn.Module postQuantConv)
        : base(nameof(AutoencoderKLTrainingView))
    {
        Autoencoder = vae;
        register_module("encoder", encoder);
        register_module("decoder", decoder);
        register_module("quant_conv", quantConv);
        register_module("post_quant_conv", postQuantConv);
    }

    /// <summary>The autoencoder whose modules these are.</summary>
    public AutoencoderKL Autoencoder { get; }

    public override Tensor forward(Tensor x, Tensor t, Condition condition) => Autoencoder.forward(x);
}
