using Diffusion.Core;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using F = TorchSharp.torch.nn.functional;

namespace Diffusion.Evaluation;

/// <summary>
/// The Inception-v3 network FID is defined on (Heusel et al. 2017; TensorFlow's 2015-12-05 graph), as pytorch-fid
/// ports it: torchvision's Inception3 layout with 1008 classes, no auxiliary head, and pytorch-fid's FIDInceptionA/C/E
/// blocks (pooling branches that ignore the padding; a max-pool in the last block). Tensor names match pytorch-fid's
/// <c>pt_inception-2015-12-05-6726825d.pth</c> state dict ("Conv2d_1a_3x3.conv.weight", "Mixed_7c.branch_pool.bn.running_var",
/// "fc.weight", …), so those weights load with <see cref="LoadWeights"/>. No weights ship with the SDK: a new
/// network has seeded random weights.
/// </summary>
/// <remarks>Only tested on random weights here (shapes, eval-mode behaviour, save/load round trips): with pytorch-fid's
/// real weights the names and shapes are expected to match, but no FID value has been compared with pytorch-fid's.</remarks>
public sealed class FidInceptionV3 : Module<Tensor, Tensor>
{
    /// <summary>Side length in pixels of the images the network takes.</summary>
    public const int InputSize = 299;

    /// <summary>Length of the pool3 feature vector.</summary>
    public const int PoolFeatures = 2048;

    /// <summary>Classes of the final layer (TensorFlow's 2015 graph has 1008).</summary>
    public const int Classes = 1008;

    [ComponentName(Name = "Conv2d_1a_3x3")] private readonly BasicConv2d conv1a;
    [ComponentName(Name = "Conv2d_2a_3x3")] private readonly BasicConv2d conv2a;
    [ComponentName(Name = "Conv2d_2b_3x3")] private readonly BasicConv2d conv2b;
    [ComponentName(Name = "Conv2d_3b_1x1")] private readonly BasicConv2d conv3b;
    [ComponentName(Name = "Conv2d_4a_3x3")] private readonly BasicConv2d conv4a;
    [ComponentName(Name = "Mixed_5b")] private readonly FidInceptionA mixed5b;
    [ComponentName(Name = "Mixed_5c")] private readonly FidInceptionA mixed5c;
    [ComponentName(Name = "Mixed_5d")] private readonly FidInceptionA mixed5d;
    [ComponentName(Name = "Mixed_6a")] private readonly InceptionB mixed6a;
    [ComponentName(Name = "Mixed_6b")] private readonly FidInceptionC mixed6b;
    [ComponentName(Name = "Mixed_6c")] private readonly FidInceptionC mixed6c;
    [ComponentName(Name = "Mixed_6d")] private readonly FidInceptionC mixed6d;
    [ComponentName(Name = "Mixed_6e")] private readonly FidInceptionC mixed6e;
    [ComponentName(Name = "Mixed_7a")] private readonly InceptionD mixed7a;
    [ComponentName(Name = "Mixed_7b")] private readonly FidInceptionE mixed7b;
    [ComponentName(Name = "Mixed_7c")] private readonly FidInceptionE mixed7c;
    [ComponentName(Name = "fc")] private readonly Linear fc;

    /// <summary>Builds the network with random weights (He-uniform convolutions, identity batch norms) drawn from
    /// <paramref name="generator"/>, in eval mode.</summary>
    /// <param name="generator">Source of the weights; null uses a CPU generator seeded with 0.</param>
    public FidInceptionV3(Generator? generator = null) : base("fid_inception_v3")
    {
        conv1a = new BasicConv2d(3, 32, 3, stride: 2);
        conv2a = new BasicConv2d(32, 32, 3);
        conv2b = new BasicConv2d(32, 64, 3, padding: 1);
        conv3b = new BasicConv2d(64, 80, 1);
        conv4a = new BasicConv2d(80, 192, 3);
        mixed5b = new FidInceptionA(192, poolFeatures: 32);
        mixed5c = new FidInceptionA(256, poolFeatures: 64);
        mixed5d = new FidInceptionA(288, poolFeatures: 64);
        mixed6a = new InceptionB(288);
        mixed6b = new FidInceptionC(768, c7: 128);
        mixed6c = new FidInceptionC(768, c7: 160);
        mixed6d = new FidInceptionC(768, c7: 160);
        mixed6e = new FidInceptionC(768, c7: 192);
        mixed7a = new InceptionD(768);
        mixed7b = new FidInceptionE(1280, maxPool: false);
        mixed7c = new FidInceptionE(2048, maxPool: true);
        fc = Linear(PoolFeatures, Classes);
        RegisterComponents();
        Initialize(generator ?? new Generator(0, CPU));
        eval();
    }

    /// <summary>The pool3 features (B, 2048) of images (B, 3, 299, 299) in [−1, 1] (pytorch-fid's blocks 0–3 with its
    /// <c>normalize_input</c> already applied). The final 1008-way layer is kept for the weights but not used.</summary>
    /// <exception cref="DiffusionException">The input is not (B, 3, 299, 299).</exception>
    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != 3 || x.shape[2] != InputSize || x.shape[3] != InputSize)
            throw new DiffusionException($"The FID Inception network takes images of shape (B, 3, 299, 299), got ({string.Join(", ", x.shape)}).");
        using var scope = NewDisposeScope();
        var h = conv2b.call(conv2a.call(conv1a.call(x)));              // (B, 64, 147, 147)
        h = F.max_pool2d(h, 3, stride: 2);                              // (B, 64, 73, 73)
        h = conv4a.call(conv3b.call(h));                                // (B, 192, 71, 71)
        h = F.max_pool2d(h, 3, stride: 2);                              // (B, 192, 35, 35)
        h = mixed5d.call(mixed5c.call(mixed5b.call(h)));                // (B, 288, 35, 35)
        h = mixed6a.call(h);                                            // (B, 768, 17, 17)
        h = mixed6e.call(mixed6d.call(mixed6c.call(mixed6b.call(h))));  // (B, 768, 17, 17)
        h = mixed7a.call(h);                                            // (B, 1280, 8, 8)
        h = mixed7c.call(mixed7b.call(h));                              // (B, 2048, 8, 8)
        return F.adaptive_avg_pool2d(h, 1).flatten(1).MoveToOuterDisposeScope();   // (B, 2048)
    }

    /// <summary>Loads pytorch-fid's FID Inception weights (or any state dict with the same names and shapes) strictly:
    /// every tensor of the network must be in the file and every tensor of the file must belong to the network
    /// (batch-norm <c>num_batches_tracked</c> counters are optional and ignored).</summary>
    /// <param name="path">A <c>.safetensors</c> file, or a PyTorch state dict saved with <c>torch.save</c> (<c>.pth</c>, <c>.pt</c>,
    /// <c>.bin</c>; the zip format of PyTorch ≥ 1.6), read through TorchSharp.PyBridge's restricted unpickler, which
    /// rebuilds tensors and dictionaries only.</param>
    /// <exception cref="DiffusionException">The file is missing or unreadable, or its names or shapes do not match (all named).</exception>
    public void LoadWeights(string path) => InceptionWeights.Load(this, path);

    /// <summary>Writes the weights (with the pytorch-fid names) to <paramref name="path"/>: safetensors, or a PyTorch
    /// state dict when the name ends in <c>.pth</c>, <c>.pt</c> or <c>.bin</c>.</summary>
    /// <exception cref="DiffusionException">The file cannot be written.</exception>
    public void SaveWeights(string path) => InceptionWeights.Save(this, path);

    // He-uniform (bound √(6 / fan_in)) keeps activations from vanishing through the 40-odd layers of a random network.
    private void Initialize(Generator generator)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith(".bn.weight", StringComparison.Ordinal)) p.fill_(1);
            else if (name.EndsWith(".bn.bias", StringComparison.Ordinal) || name == "fc.bias") p.zero_();
            else
            {
                long fanIn = p.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
                double bound = Math.Sqrt(6.0 / fanIn);
                p.uniform_(-bound, bound, generator);
            }
        }
    }
}
