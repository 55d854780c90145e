using Diffusion.Core;
using Microsoft.ML.OnnxRuntime;
using TensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>
/// Features of an ImageNet-trained ResNet18 (He et al. 2016): the 512-d output of the global average pool after the
/// last residual stage, from the ONNX network that NuGet package <c>Microsoft.ML.DnnImageFeaturizer.ResNet18</c>
/// ships (a CNTK export; find it with <see cref="ResNet18Model.Locate"/>), run with ONNX Runtime on the CPU.
/// A domain-agnostic alternative to a dataset's own classifier for FID, KID and precision/recall.
/// </summary>
/// <remarks>
/// <para>Preprocessing, identical for real and generated images (one function, <see cref="Preprocess"/>): clamp to
/// [−1, 1], grayscale repeated to three channels, bilinear resize to 224 × 224, then the ImageNet normalisation this
/// network was trained with, which the package's own preprocessing graph (<c>ResNetPreprocess.onnx</c>) defines:
/// pixel values 0 … 255 in BGR channel order minus an ImageNet mean image (per-channel means ≈ 104, 117, 124).
/// The mean image is read from that graph when the extractor is created. (This is not torchvision's RGB
/// mean/std normalisation, which belongs to torchvision's own weights.)</para>
/// <para>The shipped graph has a fixed batch of 1; the extractor frees the batch dimension in memory and runs batches
/// of <see cref="BatchSize"/> (see <see cref="Batched"/>), faster on the CPU than one image at a time. Deterministic
/// on a given machine for a given batch size; batched and single-image features agree up to float rounding.
/// Not thread-safe: use one instance per thread.</para>
/// </remarks>
public sealed class ResNet18Features : IFeatureExtractor, IDisposable
{
    /// <summary>The name reports and cached statistics carry.</summary>
    public const string ExtractorName = "resnet18-imagenet";

    /// <summary>Input side length of the network in pixels.</summary>
    public const int InputSize = 224;

    private const int Features = 512;
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions;
    private readonly string _inputName, _outputName;
    private readonly bool _fixedBatch;
    private readonly float[] _meanImage;   // (3, 224, 224), BGR, pixel scale 0 … 255
    private bool _disposed;

    /// <summary>Loads the network and its preprocessing graph.</summary>
    /// <param name="modelPath">Path of <c>ResNet18.onnx</c>.</param>
    /// <param name="preprocessModelPath">Path of <c>ResNetPreprocess.onnx</c>; null uses
    /// <see cref="ResNet18Model.PreprocessPathFor"/>(<paramref name="modelPath"/>).</param>
    /// <param name="threads">ONNX Runtime intra-op threads; 0 lets it choose (all cores). Default 0.</param>
    /// <param name="batchSize">Images preprocessed (and, for a free batch dimension, run) together. Default 32.</param>
    /// <exception cref="DiffusionException">A file is missing or is not the expected network (the message names the file).</exception>
    public ResNet18Features(string modelPath, string? preprocessModelPath = null, int threads = 0, int batchSize = 32)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        if (threads < 0) throw new DiffusionException($"Thread count must not be negative (got {threads}).");
        if (batchSize < 1) throw new DiffusionException($"Batch size must be at least 1 (got {batchSize}).");
        preprocessModelPath ??= ResNet18Model.PreprocessPathFor(modelPath);
        ModelPath = Path.GetFullPath(modelPath);
        BatchSize = batchSize;
        _meanImage = ReadMeanImage(preprocessModelPath);

        using var options = new SessionOptions { IntraOpNumThreads = threads, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        _runOptions = new RunOptions();
        var session = Open(ModelPath, options);
        try
        {
            (_inputName, _fixedBatch) = CheckInput(session, ModelPath);
            _outputName = PooledOutput(session, ModelPath);
            if (_fixedBatch && batchSize > 1 && TryFreeBatch(session, options) is { } batched)
            {
                session.Dispose();
                session = batched;
                _fixedBatch = false;
            }
        }
        catch
        {
            session.Dispose();
            _runOptions.Dispose();
            throw;
        }
        _session = session;
    }

    /// <summary>The extractor on the model found by <see cref="ResNet18Model.Locate"/>.</summary>
    /// <param name="threads">ONNX Runtime intra-op threads; 0 lets it choose. Default 0.</param>
    /// <exception cref="DiffusionException">The model is not found or not loadable.</exception>
    public static ResNet18Features FromPackage(int threads = 0) => new(ResNet18Model.Locate(), threads: threads);

    /// <summary>Full path of the ONNX network.</summary>
    public string ModelPath { get; }

    /// <summary>Images preprocessed together.</summary>
    public int BatchSize { get; }

    /// <summary>Whether whole batches go through the network at once. The shipped graph fixes the batch at 1; when
    /// <see cref="BatchSize"/> is above 1 the extractor frees that dimension in memory (every operator of the network is
    /// per-image) and keeps the result only if a probe batch gives the same features as single images.</summary>
    public bool Batched => !_fixedBatch;

    /// <inheritdoc/>
    public string Name => ExtractorName;

    /// <inheritdoc/>
    public int Dimension => Features;

    /// <inheritdoc/>
    public Tensor Extract(Tensor images, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ImagePreprocessing.Check(images, Name);
        long n = images.shape[0];
        var features = new double[n * Features];
        for (long start = 0; start < n; start += BatchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int b = (int)Math.Min(BatchSize, n - start);
            float[] pixels;
            using (var scope = NewDisposeScope())
                pixels = Preprocess(images.narrow(0, start, b)).data<float>().ToArray();   // (b, 3, 224, 224) flattened
            int perRun = _fixedBatch ? 1 : b;
            for (int i = 0; i < b; i += perRun)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int m = Math.Min(perRun, b - i);
                Run(_session, pixels, i, m, features.AsSpan((int)((start + i) * Features), m * Features));
            }
        }
        return tensor(features, new long[] { n, Features }, ScalarType.Float64);
    }

    /// <summary>
    /// The network's input for <paramref name="images"/> (N, 1 or 3, H, W) in [−1, 1]: float32 (N, 3, 224, 224),
    /// BGR, 0 … 255 minus the ImageNet mean image. The one preprocessing path of <see cref="Extract"/>.
    /// </summary>
    /// <exception cref="DiffusionException">The images are not a floating-point (N, 1 or 3, H, W) batch.</exception>
    public Tensor Preprocess(Tensor images)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ImagePreprocessing.Check(images, Name);
        using var scope = NewDisposeScope();
        var rgb = ImagePreprocessing.ToRgb(images, InputSize);                         // (N, 3, 224, 224) in [−1, 1]
        var bgr = (rgb + 1).mul_(127.5).flip(1);                                       // (N, 3, 224, 224) in [0, 255], BGR
        var mean = tensor(_meanImage, new long[] { 1, 3, InputSize, InputSize });
        return (bgr - mean).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Releases the ONNX Runtime session.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _session.Dispose();
        _runOptions.Dispose();
    }

    private static InferenceSession Open(string path, SessionOptions? options)
    {
        if (!File.Exists(path))
            throw new DiffusionException($"ONNX model '{path}' does not exist. Restore NuGet package {ResNet18Model.PackageId} {ResNet18Model.PackageVersion} or pass the right path.");
        try
        {
            return options is null ? new InferenceSession(path) : new InferenceSession(path, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new DiffusionException($"'{path}' is not a loadable ONNX model: {e.Message}", e);
        }
    }

    /// <summary>Runs images [first, first + m) of the flattened (b, 3, 224, 224) <paramref name="pixels"/> through
    /// <paramref name="session"/> and writes the (m, 512) pooled features to <paramref name="output"/>.</summary>
    private void Run(InferenceSession session, float[] pixels, int first, int m, Span<double> output)
    {
        const int imageSize = 3 * InputSize * InputSize;
        using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance,
            pixels.AsMemory(first * imageSize, m * imageSize), new long[] { m, 3, InputSize, InputSize });
        using var outputs = session.Run(_runOptions, new[] { _inputName }, new[] { input }, new[] { _outputName });
        var pooled = outputs[0].GetTensorDataAsSpan<float>();                               // (m, 512, 1, 1)
        for (int j = 0; j < m * Features; j++) output[j] = pooled[j];
    }

    // A copy of the graph with a free batch dimension, if it loads and gives the fixed graph's features for a probe batch.
    private InferenceSession? TryFreeBatch(InferenceSession fixedSession, SessionOptions options)
    {
        var patched = OnnxBatchDimension.Free(File.ReadAllBytes(ModelPath));
        if (patched is null) return null;
        InferenceSession batched;
        try { batched = new InferenceSession(patched, options); }
        catch (OnnxRuntimeException) { return null; }
        try
        {
            if (!batched.InputMetadata.TryGetValue(_inputName, out var meta) || meta.Dimensions[0] != -1) { batched.Dispose(); return null; }
            const int probe = 2;
            var pixels = new float[probe * 3 * InputSize * InputSize];
            for (int i = 0; i < pixels.Length; i++) pixels[i] = 100f * MathF.Sin(i * 0.001f + (i % 7));
            var one = new double[probe * Features];
            var both = new double[probe * Features];
            for (int i = 0; i < probe; i++) Run(fixedSession, pixels, i, 1, one.AsSpan(i * Features, Features));
            Run(batched, pixels, 0, probe, both);
            double scale = one.Max(Math.Abs), error = one.Zip(both, (a, b) => Math.Abs(a - b)).Max();
            if (scale > 0 && error <= 1e-4 * scale) return batched;
        }
        catch (OnnxRuntimeException) { }
        batched.Dispose();
        return null;
    }

    // The preprocessing graph is Split → Concat (RGB to BGR) → Sub(MeanImage); fed zeros it returns −MeanImage.
    private static float[] ReadMeanImage(string path)
    {
        using var session = Open(path, null);
        if (session.InputMetadata.Count != 1 || session.OutputMetadata.Count != 1)
            throw new DiffusionException($"'{path}' is not ResNet18's preprocessing graph (expected one input and one output).");
        var (name, meta) = session.InputMetadata.First();
        var shape = new long[] { 1, 3, InputSize, InputSize };
        if (!meta.Dimensions.Select(d => (long)d).SequenceEqual(shape))
            throw new DiffusionException($"'{path}' takes input of shape ({string.Join(", ", meta.Dimensions)}), expected (1, 3, 224, 224).");
        var zeros = new float[3 * InputSize * InputSize];
        using var input = OrtValue.CreateTensorValueFromMemory(zeros, shape);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, new[] { name }, new[] { input }, session.OutputNames);
        var negativeMean = outputs[0].GetTensorDataAsSpan<float>();
        if (negativeMean.Length != zeros.Length)
            throw new DiffusionException($"'{path}' returned {negativeMean.Length} values, expected {zeros.Length} (3 × 224 × 224).");
        var mean = new float[zeros.Length];
        for (int i = 0; i < mean.Length; i++) mean[i] = -negativeMean[i];
        return mean;
    }

    private static (string Name, bool FixedBatch) CheckInput(InferenceSession session, string path)
    {
        if (session.InputMetadata.Count != 1)
            throw new DiffusionException($"'{path}' has {session.InputMetadata.Count} inputs; the ResNet18 featurizer has one.");
        var (name, meta) = session.InputMetadata.First();
        var d = meta.Dimensions;
        if (meta.ElementDataType != TensorElementType.Float || d.Length != 4 || d[1] != 3 || d[2] != InputSize || d[3] != InputSize)
            throw new DiffusionException($"'{path}' takes {meta.ElementDataType} input of shape ({string.Join(", ", d)}), expected float (N, 3, 224, 224).");
        return (name, d[0] == 1);
    }

    // The pooled layer: the output of shape (N, 512, 1, 1) (the shipped graph's only output, "Pooling395_Output_0",
    // the 7 × 7 global average pool after the last residual block).
    private static string PooledOutput(InferenceSession session, string path)
    {
        foreach (var (name, meta) in session.OutputMetadata)
        {
            var d = meta.Dimensions;
            if (meta.ElementDataType == TensorElementType.Float && d.Length == 4 && d[1] == Features && d[2] == 1 && d[3] == 1) return name;
        }
        throw new DiffusionException($"'{path}' has no pooled 512-d output (outputs: {string.Join(", ", session.OutputMetadata.Select(o => $"{o.Key} ({string.Join(", ", o.Value.Dimensions)})"))}).");
    }
}
