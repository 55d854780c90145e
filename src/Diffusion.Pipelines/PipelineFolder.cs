using System.Text.Json;
using System.Text.Json.Nodes;
using Diffusion.Core;
using Diffusion.Core.Components;
using Diffusion.Core.Conditioning;
using Diffusion.Core.Schedules;
using Diffusion.Core.Training;
using Diffusion.Models;
using Diffusion.Text.Encoders;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Pipelines;

/// <summary>
/// A model on disk in diffusers' layout: <c>model_index.json</c> naming the components, and one sub-folder per
/// component (<c>unet/</c> with <c>config.json</c> + <c>diffusion_pytorch_model.safetensors</c>,
/// <c>scheduler/scheduler_config.json</c>, <c>conditioner/config.json</c>, <c>vae/</c>). Each component class is looked
/// up in a registry by its <c>_class_name</c>; nothing is ever executed from a file.
/// </summary>
/// <remarks>A text-conditioned model's conditioner is a <see cref="TextConditioner"/> written by <see cref="TextComponents"/>:
/// <c>tokenizer/</c>, <c>text_encoder/</c> and <c>conditioner/config.json</c> (a learned encoder's weights in
/// <c>text_encoder/</c>; a pretrained one from another package, such as MiniLM, only recorded by name and found through
/// <see cref="PretrainedTextEncoders"/>, so that package must be registered before loading).</remarks>
public static class PipelineFolder
{
    /// <summary>The index file at the root of a model folder.</summary>
    public const string IndexFile = "model_index.json";

    /// <summary>The pipeline's <c>_class_name</c>.</summary>
    public const string PipelineClass = "DiffusionPipeline";

    private const string Unet = "unet", Scheduler = "scheduler", Conditioner = "conditioner", Vae = "vae";

    private static readonly Dictionary<string, string> Libraries = new()
    {
        [UNetConfig.ClassName] = "Diffusion.Models",
        [SchedulerConfig.ClassName] = "Diffusion.Core",
        [ClassConditioner.ClassName] = "Diffusion.Core",
        [TextComponents.ClassName] = "Diffusion.Text",
        [SpaceToDepthAutoencoder.ClassName] = "Diffusion.Models",
        [AutoencoderKL.ClassName] = "Diffusion.Models",
    };

    /// <summary>True when <paramref name="folder"/> holds a model in this layout.</summary>
    public static bool IsModelFolder(string folder) => File.Exists(Path.Combine(folder, IndexFile));

    /// <summary>Writes <paramref name="components"/> into <paramref name="folder"/>; the folder is replaced as a whole
    /// (written next to it, then renamed), so a reader never sees half a model.</summary>
    /// <exception cref="DiffusionException">A component has no on-disk format.</exception>
    public static void Save(PipelineComponents components, string folder)
    {
        ArgumentNullException.ThrowIfNull(components);
        components.Validate();
        var full = Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar);
        var tmp = full + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        Directory.CreateDirectory(tmp);
        try
        {
            var index = ComponentConfig.New(PipelineClass);
            index[Unet] = Entry(SaveDenoiser(components.Denoiser, Path.Combine(tmp, Unet)));
            index[Scheduler] = Entry(SaveScheduler(components, Path.Combine(tmp, Scheduler)));
            index[Conditioner] = components.Conditioner is null ? Entry(null) : Entry(SaveConditioner(components.Conditioner, Path.Combine(tmp, Conditioner)));
            index[Vae] = components.Autoencoder is null ? Entry(null) : Entry(SaveAutoencoder(components.Autoencoder, Path.Combine(tmp, Vae)));
            ComponentConfig.Write(index, Path.Combine(tmp, IndexFile));
            FileManifest.Write(tmp); // last: proves every file on load
            var old = full + ".old";
            if (Directory.Exists(old)) Directory.Delete(old, true);
            if (Directory.Exists(full)) Directory.Move(full, old);
            Directory.Move(tmp, full);
            if (Directory.Exists(old)) Directory.Delete(old, true);
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        }
    }

    /// <summary>Reads the model in <paramref name="folder"/>: configs and weights strictly, on the current thread.</summary>
    /// <param name="folder">A folder with <c>model_index.json</c>.</param>
    /// <param name="device">Where the network goes.</param>
    /// <param name="precision">The network's dtype for sampling: bf16 (fast only on CPUs with AVX-512 BF16 and on GPUs),
    /// fp32, or <see cref="Precision.Auto"/>.</param>
    /// <exception cref="DiffusionException">A file is missing or unreadable, a component class is unknown, or configs and weights disagree.</exception>
    public static PipelineComponents Load(string folder, Device device, Precision precision)
    {
        FileManifest.Verify(folder, $"Model folder '{folder}'");
        var index = ComponentConfig.Read(Path.Combine(folder, IndexFile), "pipeline", PipelineClass);
        string? ClassOf(string name, bool required)
        {
            var entry = index.StringArrayOrNulls(name);
            string? cls = entry is null ? null : entry.Length == 2 ? entry[1] : throw new DiffusionException($"{index.Source}: {name} must be [library, class], got [{string.Join(", ", entry)}].");
            if (cls is null && required) throw new DiffusionException($"{index.Source} names no {name} component; a pipeline needs one.");
            if (cls is not null && !Libraries.ContainsKey(cls))
                throw new DiffusionException($"{index.Source}: unknown {name} class '{cls}'. Known classes: {string.Join(", ", Libraries.Keys)}.");
            if (cls is not null && !Directory.Exists(Path.Combine(folder, name)))
                throw new DiffusionException($"{index.Source} names a {name} component but the folder '{Path.Combine(folder, name)}' is missing.");
            return cls;
        }
        ClassOf(Unet, required: true);
        ClassOf(Scheduler, required: true);
        var conditionerClass = ClassOf(Conditioner, required: false);
        var vaeClass = ClassOf(Vae, required: false);
        index.EnsureAllRead();

        var scheduler = SchedulerConfig.Load(Path.Combine(folder, Scheduler));
        var options = UNetConfig.Load(Path.Combine(folder, Unet), scheduler.Prediction);
        IConditioner? conditioner = conditionerClass switch
        {
            null => null,
            TextComponents.ClassName => LoadText(folder, options, device),
            _ => ClassConditioner.Load(Path.Combine(folder, Conditioner)),
        };
        if (conditioner is ClassConditioner cc && options.NumClasses != cc.Classes)
            throw new DiffusionException($"'{folder}': the conditioner has {cc.Classes} classes but the UNet's class embedding has {(options.NumClasses is int k ? k + " classes (plus the null class)" : "none")}.");
        if (conditioner is null && options.NumClasses is not null)
            throw new DiffusionException($"'{folder}': the UNet is class-conditional ({options.NumClasses} classes) but model_index.json names no conditioner.");
        IAutoencoder? autoencoder = LoadAutoencoder(vaeClass, Path.Combine(folder, Vae), options.InChannels, device);

        UNet network;
        try { network = LoadNetwork(options, Path.Combine(folder, Unet, ComponentWeights.FileName), device, precision); }
        catch
        {
            DisposeConditioner(conditioner);
            throw;
        }
        return new PipelineComponents
        {
            Autocast = precision.Resolve(device) == Precision.Autocast,
            Denoiser = network,
            Scheduler = new NoiseSchedule(scheduler.Schedule),
            Conditioner = conditioner,
            Autoencoder = autoencoder,
            SampleShape = [options.InChannels, options.SampleSize, options.SampleSize],
            ClipSample = scheduler.ClipSample,
        };
    }

    /// <summary>Reads a model folder, or a training run folder (its <c>model/</c> sub-folder, else run.json and the latest
    /// checkpoint's EMA weights), on the current thread (<see cref="DiffusionPipeline.Load"/> does this on its own thread).</summary>
    /// <exception cref="DiffusionException">The folder is neither, or a file is unreadable or inconsistent.</exception>
    public static PipelineComponents LoadModelOrRun(string folder, Device device, Precision precision)
    {
        if (!Directory.Exists(folder)) throw new DiffusionException($"Model folder '{folder}' does not exist.");
        string modelDir = IsModelFolder(folder) ? folder : Path.Combine(folder, RunFolders.ModelFolder);
        if (IsModelFolder(modelDir)) return Load(modelDir, device, precision);
        if (File.Exists(Path.Combine(folder, RunOptions.FileName))) return LoadRun(folder, device, precision);
        throw new DiffusionException($"'{folder}' is neither a model folder ({IndexFile} is missing) nor a training run folder ({RunOptions.FileName} is missing).");
    }

    /// <summary>Builds the components of a run folder written before model folders existed (run.json plus the EMA
    /// weights of the latest checkpoint).</summary>
    /// <exception cref="DiffusionException">The folder is not a run folder or has no checkpoint.</exception>
    public static PipelineComponents LoadRun(string runDirectory, Device device, Precision precision)
    {
        var options = RunOptions.Load(runDirectory);
        if (options.Text is not null)
            throw new DiffusionException($"Run '{runDirectory}' is text-conditioned and has no model folder ({RunFolders.ModelFolder}/) yet; 'diffusion train' writes it when training ends or is stopped.");
        var checkpoint = Trainer.CheckpointToResume(runDirectory, ResumePoint.Latest);
        var weights = Path.Combine(checkpoint, Trainer.EmaFile);
        if (!File.Exists(weights))
            throw new DiffusionException($"Run '{runDirectory}' has no checkpoint yet ({weights} is missing); train it first.");
        FileManifest.Verify(checkpoint, $"Checkpoint '{checkpoint}'");
        return FromRun(options, LoadNetwork(options.Model, weights, device, precision)) with { Autocast = precision.Resolve(device) == Precision.Autocast };
    }

    /// <summary>The components of a run whose network is already built and loaded.</summary>
    /// <param name="options">The run's options.</param>
    /// <param name="network">Its network.</param>
    /// <param name="classNames">The class names of a class-conditional run.</param>
    /// <param name="text">The text conditioner of a text-conditioned run (used instead of classes).</param>
    public static PipelineComponents FromRun(RunOptions options, UNet network, IReadOnlyList<string>? classNames = null, TextConditioner? text = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(network);
        var m = network.Options;
        return new PipelineComponents
        {
            Denoiser = network,
            Scheduler = new NoiseSchedule(options.Schedule),
            Conditioner = text is not null ? text : m.NumClasses is int k ? new ClassConditioner(k, classNames is { } n && n.Count == k ? n : null) : null,
            SampleShape = [m.InChannels, m.SampleSize, m.SampleSize],
            ClipSample = 1.0, // pixel data lie in [-1, 1]
        };
    }

    /// <summary>A UNet of <paramref name="options"/> with the weights of <paramref name="weights"/> (strictly), in eval mode on
    /// <paramref name="device"/>, converted to bf16 when <paramref name="precision"/> resolves to it.</summary>
    private static UNet LoadNetwork(UNetOptions options, string weights, Device device, Precision precision)
    {
        var network = new UNet(options);
        try
        {
            StateDicts.LoadInto(network, weights);
            Prepare(network, device, precision);
            return network;
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    private static void Prepare(UNet network, Device device, Precision precision)
    {
        if (precision.Resolve(device) == Precision.Autocast) Autocast.EnsureAvailable();
        if (precision.Resolve(device) == Precision.BFloat16) network.to(ScalarType.BFloat16);
        network.to(device);
        network.eval();
    }

    /// <summary>The text conditioner of a model folder, checked against the UNet; a learned encoder comes back frozen and in
    /// eval mode on <paramref name="device"/> (it only samples now).</summary>
    private static TextConditioner LoadText(string folder, UNetOptions unet, Device device)
    {
        var text = TextComponents.Load(folder, device);
        try
        {
            if (text.Encoder is TextTransformer learned)
            {
                learned.Freeze();
                learned.eval();
            }
            if (unet.CrossAttentionDim is not int dim)
                throw new DiffusionException($"'{folder}': the conditioner is a text conditioner but the UNet has no cross-attention (cross_attention_dim) to read it.");
            if (dim != text.Encoder.HiddenSize)
                throw new DiffusionException($"'{folder}': the text encoder makes {text.Encoder.HiddenSize}-wide states but the UNet's cross-attention takes {dim}.");
            if (unet.NumClasses is not null)
                throw new DiffusionException($"'{folder}': the UNet also has a class embedding; a pipeline conditions on prompts or classes, not both.");
            return text;
        }
        catch
        {
            DisposeConditioner(text);
            throw;
        }
    }

    /// <summary>Frees what a conditioner holds: a text encoder's module or ONNX session.</summary>
    internal static void DisposeConditioner(IConditioner? conditioner)
    {
        if (conditioner is TextConditioner text) (text.Encoder as IDisposable)?.Dispose();
        else (conditioner as IDisposable)?.Dispose();
    }

    private static JsonArray Entry(string? className)
        => className is null ? new JsonArray(null, null) : new JsonArray(Libraries[className], className);

    private static string SaveDenoiser(IDenoiser denoiser, string folder)
    {
        if (denoiser is not UNet unet)
            throw new DiffusionException($"A {denoiser.GetType().Name} cannot be saved in a model folder; only the SDK's UNet can so far.");
        Directory.CreateDirectory(folder);
        UNetConfig.Save(unet.Options, folder);
        ComponentWeights.Save(unet, folder);
        return UNetConfig.ClassName;
    }

    private static string SaveScheduler(PipelineComponents components, string folder)
    {
        if (components.Scheduler is not NoiseSchedule schedule)
            throw new DiffusionException($"A {components.Scheduler.GetType().Name} cannot be saved in a model folder; only NoiseSchedule can so far.");
        Directory.CreateDirectory(folder);
        new SchedulerConfig(schedule.Options, components.Denoiser.Prediction, components.ClipSample).Save(folder);
        return SchedulerConfig.ClassName;
    }

    private static string SaveConditioner(IConditioner conditioner, string folder)
    {
        if (conditioner is TextConditioner text)
        {
            TextComponents.Save(text, Path.GetDirectoryName(folder)!); // tokenizer/, text_encoder/, conditioner/
            return TextComponents.ClassName;
        }
        if (conditioner is not ClassConditioner classes)
            throw new DiffusionException($"A {conditioner.GetType().Name} cannot be saved in a model folder; only ClassConditioner and TextConditioner can.");
        Directory.CreateDirectory(folder);
        classes.Save(folder);
        return ClassConditioner.ClassName;
    }

    private static string SaveAutoencoder(IAutoencoder autoencoder, string folder)
    {
        Directory.CreateDirectory(folder);
        switch (autoencoder)
        {
            case SpaceToDepthAutoencoder s:
                s.Save(folder);
                return SpaceToDepthAutoencoder.ClassName;
            case AutoencoderKL kl:
                kl.Save(folder);
                return AutoencoderKL.ClassName;
            default:
                throw new DiffusionException($"A {autoencoder.GetType().Name} cannot be saved in a model folder; only SpaceToDepthAutoencoder and AutoencoderKL can so far.");
        }
    }

    /// <summary>The autoencoder component of class <paramref name="className"/> in <paramref name="folder"/>, or null when
    /// there is none. A VAE stays in float32 (diffusers' <c>force_upcast</c>): decoding is a small share of sampling.</summary>
    /// <exception cref="DiffusionException">The component is unreadable, or its latents do not have the UNet's <paramref name="unetChannels"/> channels.</exception>
    private static IAutoencoder? LoadAutoencoder(string? className, string folder, int unetChannels, Device device)
    {
        if (className is null) return null;
        int latentChannels = className == SpaceToDepthAutoencoder.ClassName ? SpaceToDepthAutoencoder.Load(folder).LatentChannels
            : AutoencoderKLConfig.Load(folder).LatentChannels; // the config alone: the check comes before loading weights
        if (latentChannels != unetChannels)
            throw new DiffusionException($"'{folder}': the VAE makes latents with {latentChannels} channels but the UNet takes {unetChannels}; they were not trained together.");
        if (className == SpaceToDepthAutoencoder.ClassName) return SpaceToDepthAutoencoder.Load(folder);
        var vae = AutoencoderKL.Load(folder);
        vae.to(device);
        return vae;
    }
}
