using Diffusion.Core;
using Diffusion.Core.Imaging;
using Diffusion.Core.Training;
using Diffusion.Samplers;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Pipelines;

/// <summary>
/// A trained model ready to generate: denoiser, schedule, optional conditioner and autoencoder (see
/// <see cref="PipelineComponents"/>), loaded from and saved to one folder in diffusers' layout. Every torch call runs
/// on the pipeline's own thread, one request at a time, so <see cref="GenerateAsync"/> is safe from any thread and from
/// many callers at once.
/// </summary>
/// <example>
/// <code>
/// using var pipe = DiffusionPipeline.Load("runs/mnist/model");
/// using var sevens = pipe.Generate(new GenerationRequest { Classes = [7], Count = 16, Steps = 20, Sampler = "dpmpp_2m" });
/// sevens.SaveGrid("sevens.png", columns: 4);
/// </code>
/// </example>
public sealed class DiffusionPipeline : IDisposable
{
    private readonly TorchThread _thread;
    private readonly PipelineComponents _components;
    private bool _disposed;

    private DiffusionPipeline(TorchThread thread, PipelineComponents components, Device device, string? source)
    {
        _thread = thread;
        _components = components;
        Device = device;
        Source = source;
    }

    /// <summary>The components (their tensors belong to the pipeline's thread: use them through the pipeline).</summary>
    public PipelineComponents Components => _components;

    /// <summary>The device the network runs on.</summary>
    public Device Device { get; }

    /// <summary>The folder the pipeline was loaded from, or null.</summary>
    public string? Source { get; }

    /// <summary>The class conditioner's class names, or null when the model takes no classes.</summary>
    public IReadOnlyList<string>? ClassNames => (_components.Conditioner as Core.Conditioning.ClassConditioner)?.Names;

    /// <summary>True when the model is conditioned on text: it takes <see cref="GenerationRequest.Prompts"/>.</summary>
    public bool TakesPrompts => _components.Conditioner is Text.Encoders.TextConditioner;

    /// <summary>Image shape (C, H, W) the pipeline draws.</summary>
    public IReadOnlyList<long> ImageShape => _components.ImageShape;

    /// <summary>Builds a pipeline from components the caller made; the pipeline takes ownership of them (disposing
    /// those that are disposable when it is disposed).</summary>
    /// <exception cref="DiffusionException">The components do not fit together.</exception>
    public static DiffusionPipeline Create(PipelineComponents components, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(components);
        components.Validate();
        return new DiffusionPipeline(new TorchThread("diffusion-pipeline"), components, device ?? CPU, null);
    }

    /// <summary>Loads a model folder (<c>model_index.json</c> + components), or a training run folder (its <c>model/</c>
    /// sub-folder, or for runs written before model folders existed, run.json and the latest checkpoint's EMA weights).</summary>
    /// <param name="folder">The model or run folder.</param>
    /// <param name="device">"auto" (CUDA when present), "cpu", "cuda" or "cuda:N".</param>
    /// <param name="precision">The network's dtype while sampling; <see cref="Precision.Auto"/> picks bf16 only where
    /// the hardware computes it fast.</param>
    /// <exception cref="DiffusionException">The folder is not a model, a file is unreadable or inconsistent, or the device does not exist.</exception>
    public static DiffusionPipeline Load(string folder, string device = "auto", Precision precision = Precision.Auto)
    {
        ArgumentNullException.ThrowIfNull(folder);
        var thread = new TorchThread("diffusion-pipeline");
        try
        {
            var (components, dev) = thread.Invoke(() =>
            {
                var d = Devices.Resolve(device);
                return (PipelineFolder.LoadModelOrRun(folder, d, precision), d);
            });
            return new DiffusionPipeline(thread, components, dev, folder);
        }
        catch
        {
            thread.Dispose();
            throw;
        }
    }

    /// <summary>Writes the pipeline into <paramref name="folder"/> in diffusers' layout (replacing what is there).</summary>
    /// <exception cref="DiffusionException">A component has no on-disk format.</exception>
    public void Save(string folder)
    {
        ThrowIfDisposed();
        _thread.Invoke(() => { PipelineFolder.Save(_components, folder); return 0; });
    }

    /// <summary>Generates images and waits for them (see <see cref="GenerateAsync"/>).</summary>
    /// <exception cref="DiffusionException">The request is invalid for this model.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public GenerationResult Generate(GenerationRequest request, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
        => GenerateAsync(request, progress, cancellationToken).GetAwaiter().GetResult();

    /// <summary>Queues a generation on the pipeline's thread. Requests run one at a time in arrival order; each is
    /// reproducible from its seed whatever else runs.</summary>
    /// <param name="request">What to generate.</param>
    /// <param name="progress">Receives one report per sampling step (on the pipeline's thread, or wherever
    /// <see cref="Progress{T}"/> posts).</param>
    /// <param name="cancellationToken">Checked between steps; the task is then cancelled and the pipeline stays usable.</param>
    /// <exception cref="DiffusionException">The request is invalid for this model.</exception>
    public Task<GenerationResult> GenerateAsync(GenerationRequest request, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ThrowIfDisposed();
        return _thread.Run(() => Generation.Run(_components, Device, request, progress, cancellationToken), cancellationToken);
    }

    /// <summary>Runs <paramref name="work"/> on the pipeline's torch thread with its components, for callers that need
    /// the network itself (e.g. evaluation); the result must not hold tensors created in a dispose scope.</summary>
    public Task<T> RunOnTorchThread<T>(Func<PipelineComponents, T> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        ThrowIfDisposed();
        return _thread.Run(() => work(_components), cancellationToken);
    }

    /// <summary>Finishes queued requests, then frees the network and the thread.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _thread.Run(() =>
        {
            (_components.Denoiser as IDisposable)?.Dispose();
            (_components.Autoencoder as IDisposable)?.Dispose();
            PipelineFolder.DisposeConditioner(_components.Conditioner);
            return 0;
        }).GetAwaiter().GetResult();
        _thread.Dispose();
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
