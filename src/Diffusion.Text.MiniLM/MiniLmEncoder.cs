using Diffusion.Core;
using Diffusion.Text.Encoders;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace Diffusion.Text.MiniLM;

/// <summary>
/// The frozen all-MiniLM-L6-v2 transformer, run by ONNX Runtime on the CPU: per-token states are the model's
/// <c>last_hidden_state</c> (B, L, 384); the pooled vector is sentence-transformers' sentence embedding, the mean of the
/// real tokens' states scaled to unit length.
/// </summary>
/// <remarks>The ONNX session is not a TorchSharp module: nothing here trains, and results are copied into TorchSharp
/// tensors on the ids' device. Dispose the encoder to free the session.</remarks>
public sealed class MiniLmEncoder : IPretrainedTextEncoder, IDisposable
{
    private readonly InferenceSession _session;
    private bool _disposed;

    private MiniLmEncoder(InferenceSession session) => _session = session;

    /// <summary>Loads the embedded model (about 90 MB) into an ONNX Runtime session.</summary>
    /// <param name="threads">Intra-op threads of the session; null lets ONNX Runtime choose.</param>
    /// <exception cref="DiffusionException">The model cannot be read.</exception>
    public static MiniLmEncoder Create(int? threads = null)
    {
        byte[] model;
        using (var s = MiniLm.OpenModel())
        using (var copy = new MemoryStream())
        {
            s.CopyTo(copy);
            model = copy.ToArray();
        }
        using var options = new SessionOptions();
        if (threads is int t) options.IntraOpNumThreads = t;
        try { return new MiniLmEncoder(new InferenceSession(model, options)); }
        catch (OnnxRuntimeException e) { throw new DiffusionException($"The embedded MiniLM model could not be loaded: {e.Message}", e); }
    }

    /// <inheritdoc />
    /// <remarks>"minilm" (<see cref="MiniLm.Register"/>).</remarks>
    public string RegistryName => MiniLm.Name;

    /// <inheritdoc />
    public int HiddenSize => MiniLm.HiddenSize;

    /// <inheritdoc />
    public int MaxLength => MiniLm.MaxPositions;

    /// <inheritdoc />
    /// <remarks>Always false: the ONNX model is frozen.</remarks>
    public bool Trainable => false;

    /// <inheritdoc />
    /// <exception cref="DiffusionException">The shapes disagree or the rows are too long.</exception>
    public TextEncoding Encode(Tensor ids, Tensor mask)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (ids.dim() != 2 || !ids.shape.SequenceEqual(mask.shape))
            throw new DiffusionException($"MiniLM takes ids and a mask of the same shape (B, L), got ({string.Join(", ", ids.shape)}) and ({string.Join(", ", mask.shape)}).");
        int b = (int)ids.shape[0], l = (int)ids.shape[1];
        if (l > MaxLength) throw new DiffusionException($"Token rows of {l} exceed MiniLM's {MaxLength} positions.");
        long[] idData, maskData;
        using (var cpu = ids.to(ScalarType.Int64, CPU)) idData = cpu.data<long>().ToArray();
        using (var cpu = mask.to(ScalarType.Int64, CPU)) maskData = cpu.data<long>().ToArray();
        int[] dims = [b, l];
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(idData, dims)),
            NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(maskData, dims)),
            NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(new long[idData.Length], dims)),
        };
        float[] states;
        using (var results = _session.Run(inputs, ["last_hidden_state"]))
            states = results[0].AsTensor<float>().ToArray();

        using var scope = NewDisposeScope();
        var hidden = tensor(states, new long[] { b, l, HiddenSize }).to(ids.device); // (B, L, D)
        var m = mask.to(ScalarType.Float32).unsqueeze(-1).to(ids.device);             // (B, L, 1)
        var mean = (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9);                   // (B, D)
        var pooled = nn.functional.normalize(mean, p: 2, dim: 1);                     // (B, D), unit length
        return new TextEncoding(hidden.MoveToOuterDisposeScope(), pooled.MoveToOuterDisposeScope());
    }

    /// <summary>Frees the ONNX session.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _session.Dispose();
    }
}
