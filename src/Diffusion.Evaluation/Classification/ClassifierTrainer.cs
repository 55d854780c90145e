using System.Diagnostics;
using Diffusion.Core;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Diffusion.Evaluation;

/// <summary>
/// Trains a <see cref="Classifier"/> with AdamW, cross-entropy, random-shift augmentation and a warm-up +
/// cosine learning-rate schedule. With <see cref="ClassifierTrainingOptions.BFloat16"/> the passes run on
/// a bfloat16 copy of the network while AdamW updates float32 master weights (mixed precision).
/// </summary>
public static class ClassifierTrainer
{
    /// <summary>Trains a classifier from scratch.</summary>
    /// <param name="trainImages">Images in [−1, 1], float, shape (N, C, S, S).</param>
    /// <param name="trainLabels">Labels 0 … K−1, int64, shape (N).</param>
    /// <param name="options">Training options; null uses the defaults.</param>
    /// <param name="progress">Receives a report every <see cref="ClassifierTrainingOptions.ReportEvery"/> steps and at the end of each epoch.</param>
    /// <param name="cancellationToken">Checked between steps; cancelling throws <see cref="OperationCanceledException"/>.</param>
    /// <returns>The trained float32 classifier, in eval mode, on the images' device.</returns>
    /// <exception cref="DiffusionException">The images or labels are malformed or do not fit the model options.</exception>
    public static Classifier Train(Tensor trainImages, Tensor trainLabels, ClassifierTrainingOptions? options = null,
        IProgress<ClassifierTrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trainImages);
        ArgumentNullException.ThrowIfNull(trainLabels);
        options ??= new ClassifierTrainingOptions();
        if (trainImages.dim() != 4 || trainImages.shape[0] < 2 || trainImages.shape[2] != trainImages.shape[3] || !trainImages.is_floating_point())
            throw new DiffusionException($"Training images must be float (N ≥ 2, C, S, S) in [-1, 1], got {trainImages.dtype} ({string.Join(", ", trainImages.shape)}).");
        var model = options.Model ?? InferModel(trainImages, trainLabels);
        long n = trainImages.shape[0];
        Labels.ToArray(trainLabels, n, model.Classes);

        var device = trainImages.device;
        var generator = new Generator((ulong)options.Seed, CPU);
        var master = new Classifier(model, generator);
        master.to(device);
        var work = master;
        var masterParams = master.parameters().ToArray();
        var workParams = masterParams;
        if (options.BFloat16)
        {
            var copy = new Classifier(model, new Generator(0, CPU));
            copy.to(device).to(ScalarType.BFloat16);
            var copyParams = copy.parameters().ToArray();
            CopyInto(masterParams, copyParams);
            if (BFloat16IsFaithful(master, copy, trainImages.narrow(0, 0, Math.Min(64, n))))
            {
                work = copy;
                workParams = copyParams;
                foreach (var p in masterParams) p.grad = zeros_like(p);
            }
        }
        bool mixed = !ReferenceEquals(work, master);
        var dtype = mixed ? ScalarType.BFloat16 : ScalarType.Float32;

        var optimizer = optim.AdamW(masterParams, options.LearningRate, weight_decay: options.WeightDecay);
        int batch = (int)Math.Min(options.BatchSize, n);
        long stepsPerEpoch = n / batch;
        long totalSteps = stepsPerEpoch * options.Epochs;
        long warmup = (long)(options.WarmupFraction * totalSteps);

        // Everything below but the master weights (and AdamW's state, which the optimizer owns) dies with this scope.
        using var outer = NewDisposeScope();
        var images = trainImages.to(dtype);
        var labels = trainLabels.to(ScalarType.Int64, device);
        var lossSum = zeros(1, dtype: ScalarType.Float32, device: device);
        long step = 0, sinceReport = 0;
        var clock = Stopwatch.StartNew();
        work.train();
        for (int epoch = 1; epoch <= options.Epochs; epoch++)
        {
            var perm = randperm(n, generator: generator).to(device);
            for (long s = 0; s < stepsPerEpoch; s++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var index = perm.narrow(0, s * batch, batch);
                var x = RandomShift.Apply(images.index_select(0, index), options.MaxShift, -1.0, generator);
                var y = labels.index_select(0, index);

                if (mixed) CopyInto(masterParams, workParams);
                work.zero_grad();
                var loss = F.cross_entropy(work.call(x).to(ScalarType.Float32), y);
                loss.backward();
                if (mixed)
                {
                    using var noGrad = no_grad();
                    for (int i = 0; i < masterParams.Length; i++) masterParams[i].grad!.copy_(workParams[i].grad!);
                }
                foreach (var group in optimizer.ParamGroups) group.LearningRate = LearningRate(options.LearningRate, step, warmup, totalSteps);
                optimizer.step();

                using (no_grad()) lossSum.add_(loss.detach());
                step++;
                sinceReport++;
                if (progress is not null && (step % options.ReportEvery == 0 || s == stepsPerEpoch - 1))
                {
                    progress.Report(new ClassifierTrainingProgress(epoch, options.Epochs, step, totalSteps, lossSum.item<float>() / sinceReport, clock.Elapsed));
                    lossSum.zero_();
                    sinceReport = 0;
                }
            }
        }
        if (mixed)
        {
            CopyBuffers(work, master);
            work.Dispose();
        }
        master.eval();
        return master;
    }

    /// <summary>Warm-up from 0 to <paramref name="peak"/> over <paramref name="warmup"/> steps, then cosine decay to 0.</summary>
    internal static double LearningRate(double peak, long step, long warmup, long total)
    {
        if (step < warmup) return peak * (step + 1) / warmup;
        double progress = (double)(step - warmup) / Math.Max(1, total - warmup);
        return peak * 0.5 * (1 + Math.Cos(Math.PI * progress));
    }

    /// <summary>
    /// Whether the bfloat16 copy computes (nearly) the same logits and gradients as the float32 network. Some
    /// CPU builds of libtorch compute bf16 convolutions wrongly (seen with output channels not a multiple of 16,
    /// off by 30–70 %); a network trained on such kernels only works in bf16, so training then stays in float32.
    /// </summary>
    internal static bool BFloat16IsFaithful(Classifier float32, Classifier bfloat16, Tensor probe)
    {
        using var scope = NewDisposeScope();
        bool wasTraining = float32.training;
        float32.eval();
        bfloat16.eval();
        try
        {
            var x = probe.to(ScalarType.BFloat16).to(float32.Device);
            var target = zeros(x.shape[0], ScalarType.Int64, float32.Device);
            var reference = float32.call(x.to(ScalarType.Float32));
            var approx = bfloat16.call(x).to(ScalarType.Float32);
            F.cross_entropy(reference, target).backward();
            F.cross_entropy(approx, target).backward();
            bool faithful = RelativeError(reference, approx) < 0.05;
            foreach (var (p, q) in float32.parameters().Zip(bfloat16.parameters()))
                faithful &= RelativeError(p.grad!, q.grad!.to(ScalarType.Float32)) < 0.1;
            return faithful;
        }
        finally
        {
            float32.zero_grad();
            bfloat16.zero_grad();
            float32.train(wasTraining);
        }
    }

    private static double RelativeError(Tensor reference, Tensor approx)
        => (reference - approx).abs().max().item<float>() / Math.Max(1e-6, reference.abs().max().item<float>());

    private static ClassifierOptions InferModel(Tensor images, Tensor labels)
    {
        using var scope = NewDisposeScope();
        if (labels.dim() != 1 || labels.numel() == 0)
            throw new DiffusionException($"Expected a non-empty label vector, got shape ({string.Join(", ", labels.shape)}).");
        long maxLabel = labels.max().item<long>();
        return new ClassifierOptions
        {
            Channels = (int)images.shape[1],
            ImageSize = (int)images.shape[2],
            Classes = (int)Math.Max(2, maxLabel + 1),
        };
    }

    private static void CopyInto(Parameter[] source, Parameter[] target)
    {
        using var noGrad = no_grad();
        for (int i = 0; i < source.Length; i++) target[i].copy_(source[i]);
    }

    // The bf16 copy ran the training passes, so its batch-norm running statistics are the ones to keep.
    private static void CopyBuffers(Classifier source, Classifier target)
    {
        using var noGrad = no_grad();
        var targetBuffers = target.named_buffers().ToDictionary(b => b.name, b => b.buffer);
        foreach (var (name, buffer) in source.named_buffers()) targetBuffers[name].copy_(buffer);
    }
}
