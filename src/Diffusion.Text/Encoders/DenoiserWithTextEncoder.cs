using Diffusion.Core;
using TorchSharp;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Diffusion.Text.Encoders;

/// <summary>
/// A denoiser network that owns a trainable text encoder as a child module, so that everything training a network's
/// parameters (the <see cref="Core.Training.Trainer"/>: master weights, AdamW, EMA, checkpoints, gradient clipping) trains
/// the encoder with it, with no change to the trainer. The forward pass is the denoiser's alone: the
/// <see cref="TextConditioner"/> built on the same encoder object runs it in each training step, and the gradients of the
/// diffusion loss reach its parameters through the condition.
/// </summary>
/// <remarks>State-dict keys are prefixed: <c>denoiser.*</c> and <c>text_encoder.*</c>. The trainer replaces parameters in
/// place (views of its flat buffer), so the conditioner keeps seeing the trained weights; with bfloat16 training the encoder
/// is converted with the network.</remarks>
public sealed class DenoiserWithTextEncoder : nn.Module<Tensor, Tensor, Condition, Tensor>, IDenoiser
{
    [ComponentName(Name = "denoiser")]
    private readonly nn.Module<Tensor, Tensor, Condition, Tensor> _denoiser;

    [ComponentName(Name = "text_encoder")]
    private readonly TextTransformer _textEncoder;

    /// <summary>Joins <paramref name="denoiser"/> and <paramref name="textEncoder"/>.</summary>
    /// <param name="denoiser">The network; must implement <see cref="IDenoiser"/>.</param>
    /// <param name="textEncoder">The learned text encoder the conditioner uses.</param>
    /// <exception cref="DiffusionException">The network does not implement <see cref="IDenoiser"/>.</exception>
    public DenoiserWithTextEncoder(nn.Module<Tensor, Tensor, Condition, Tensor> denoiser, TextTransformer textEncoder) : base(nameof(DenoiserWithTextEncoder))
    {
        ArgumentNullException.ThrowIfNull(denoiser);
        ArgumentNullException.ThrowIfNull(textEncoder);
        if (denoiser is not IDenoiser) throw new DiffusionException($"{denoiser.GetType().Name} does not implement IDenoiser.");
        _denoiser = denoiser;
        _textEncoder = textEncoder;
        RegisterComponents();
    }

    /// <summary>The denoiser network.</summary>
    public nn.Module<Tensor, Tensor, Condition, Tensor> Denoiser => _denoiser;

    /// <summary>The text encoder.</summary>
    public TextTransformer TextEncoder => _textEncoder;

    /// <inheritdoc />
    public Prediction Prediction => ((IDenoiser)_denoiser).Prediction;

    /// <inheritdoc />
    public Tensor Predict(Tensor x, Tensor t, Condition condition) => ((IDenoiser)_denoiser).Predict(x, t, condition);

    /// <summary>The denoiser's forward pass (the text encoder has already run inside the conditioner).</summary>
    public override Tensor forward(Tensor x, Tensor t, Condition condition) => _denoiser.call(x, t, condition);
}
