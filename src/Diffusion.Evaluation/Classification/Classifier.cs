using Diffusion.Core;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using F = TorchSharp.torch.nn.functional;

namespace Diffusion.Evaluation;

/// <summary>
/// A small CNN that names the class of an image, used to judge generated samples (class accuracy) and
/// as the feature extractor of FID_dataset, KID and precision/recall. Three stages of
/// conv3×3 → batch norm → ReLU → 2× max-pool (widths w, 2w, 4w), a hidden layer whose activations are
/// the <see cref="Features"/>, and a linear head giving the logits. Inputs are images in [−1, 1],
/// shape (B, C, S, S) as set by <see cref="ClassifierOptions"/>.
/// </summary>
public sealed class Classifier : Module<Tensor, Tensor>
{
    private readonly Conv2d conv1, conv2, conv3;
    private readonly BatchNorm2d bn1, bn2, bn3;
    private readonly Linear fc, head;

    /// <summary>Builds the network with weights drawn from <paramref name="generator"/>.</summary>
    /// <param name="options">The architecture.</param>
    /// <param name="generator">Source of the initial weights; null uses a CPU generator seeded with 0.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    public Classifier(ClassifierOptions options, Generator? generator = null) : base("classifier")
    {
        Options = options ?? throw new ArgumentNullException(nameof(options));
        int w = options.BaseWidth;
        conv1 = Conv2d(options.Channels, w, 3, padding: 1, bias: false);
        bn1 = BatchNorm2d(w);
        conv2 = Conv2d(w, 2 * w, 3, padding: 1, bias: false);
        bn2 = BatchNorm2d(2 * w);
        conv3 = Conv2d(2 * w, 4 * w, 3, padding: 1, bias: false);
        bn3 = BatchNorm2d(4 * w);
        long s = options.ImageSize / 2 / 2 / 2;
        fc = Linear(4 * w * s * s, options.FeatureDim);
        head = Linear(options.FeatureDim, options.Classes);
        RegisterComponents();
        Initialize(generator ?? new Generator(0, CPU));
    }

    /// <summary>The architecture this network was built with.</summary>
    public ClassifierOptions Options { get; }

    /// <summary>The floating-point type of the weights (float32 unless converted).</summary>
    public ScalarType DType => head.weight!.dtype;

    /// <summary>The device holding the weights.</summary>
    public Device Device => head.weight!.device;

    /// <summary>Class logits, shape (B, K), for images of shape (B, C, S, S) in the weights' dtype.</summary>
    /// <exception cref="DiffusionException">The images do not have the shape the classifier was built for.</exception>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return head.call(Features(x)).MoveToOuterDisposeScope();
    }

    /// <summary>The penultimate activations (after ReLU), shape (B, <see cref="ClassifierOptions.FeatureDim"/>).</summary>
    /// <param name="x">Images, shape (B, C, S, S), in the weights' dtype and device.</param>
    /// <exception cref="DiffusionException">The images do not have the shape the classifier was built for.</exception>
    public Tensor Features(Tensor x)
    {
        CheckShape(x);
        using var scope = NewDisposeScope();
        var h = F.max_pool2d(F.relu(bn1.call(conv1.call(x))), 2);   // (B, w, S/2, S/2)
        h = F.max_pool2d(F.relu(bn2.call(conv2.call(h))), 2);       // (B, 2w, S/4, S/4)
        h = F.max_pool2d(F.relu(bn3.call(conv3.call(h))), 2);       // (B, 4w, S/8, S/8)
        h = h.flatten(1);                                           // (B, 4w·(S/8)²)
        return F.relu(fc.call(h)).MoveToOuterDisposeScope();        // (B, FeatureDim)
    }

    /// <summary>
    /// The one preprocessing path for every image the classifier judges, real or generated: checks the
    /// shape, moves to the classifier's device and dtype, and clamps to [−1, 1] (samplers may overshoot).
    /// </summary>
    /// <param name="images">Images, shape (B, C, S, S), any floating dtype, nominally in [−1, 1].</param>
    /// <returns>A new tensor ready for <see cref="forward"/> or <see cref="Features"/>.</returns>
    /// <exception cref="DiffusionException">The images do not have the expected shape or are not floating point.</exception>
    public Tensor Preprocess(Tensor images)
    {
        CheckShape(images);
        if (!images.is_floating_point())
            throw new DiffusionException($"Classifier inputs must be floating-point images in [-1, 1], got {images.dtype}; convert with x / 127.5 - 1.");
        return images.to(DType, Device).clamp(-1.0, 1.0);
    }

    private void CheckShape(Tensor x)
    {
        var o = Options;
        if (x.dim() != 4 || x.shape[1] != o.Channels || x.shape[2] != o.ImageSize || x.shape[3] != o.ImageSize)
            throw new DiffusionException(
                $"The classifier expects images of shape (N, {o.Channels}, {o.ImageSize}, {o.ImageSize}), got ({string.Join(", ", x.shape)}).");
    }

    // PyTorch's default initialisation (uniform ±1/sqrt(fan_in)), but drawn from our generator so a seed fixes the weights.
    private void Initialize(Generator generator)
    {
        using var noGrad = no_grad();
        foreach (var (weight, bias) in new (Parameter W, Parameter? B)[]
                 { (conv1.weight!, null), (conv2.weight!, null), (conv3.weight!, null), (fc.weight!, fc.bias), (head.weight!, head.bias) })
        {
            long fanIn = weight.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
            double bound = 1.0 / Math.Sqrt(fanIn);
            weight.uniform_(-bound, bound, generator);
            bias?.uniform_(-bound, bound, generator);
        }
    }
}
