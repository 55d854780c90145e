using Diffusion.Core;
using Diffusion.Samplers;
using SixLabors.ImageSharp;
using static TorchSharp.torch;

namespace Diffusion.Pipelines;

/// <summary>What to generate; immutable, validated by the pipeline. Only <see cref="Count"/> has no default worth
/// changing for a first try: <c>new GenerationRequest { Classes = [7], Count = 16 }</c>.</summary>
public sealed record GenerationRequest
{
    /// <summary>Number of images, ≥ 1. Default 1.</summary>
    public int Count { get; init; } = 1;

    /// <summary>Class of each image for class-conditional models: one value (used for every image) or
    /// <see cref="Count"/> values. Null (default) samples the unconditional model (the null class).</summary>
    public IReadOnlyList<int>? Classes { get; init; }

    /// <summary>Text prompts for text-conditioned models: one (used for every image) or <see cref="Count"/>. The empty prompt
    /// "" is the unconditional input (what classifier-free guidance compares with), so it samples the unconditional model;
    /// a prompt longer than the model's token rows is truncated with one warning (<see cref="GenerationProgress.Warning"/>,
    /// <see cref="ResolvedGeneration.Warnings"/>). A class-only model refuses prompts, and a text model refuses
    /// <see cref="Classes"/>. Null (default) samples the unconditional model (the empty prompt).</summary>
    public IReadOnlyList<string>? Prompts { get; init; }

    /// <summary>Registry name of the sampler (see <see cref="SamplerRegistry"/>). Default "ddim".</summary>
    public string Sampler { get; init; } = "ddim";

    /// <summary>A sampler instance to use instead of <see cref="Sampler"/> (e.g. one with custom options). Default null.</summary>
    public ISampler? SamplerInstance { get; init; }

    /// <summary>Sampling steps, 1 … the schedule's training steps. Default 50.</summary>
    public int Steps { get; init; } = 50;

    /// <summary>Classifier-free guidance scale w ≥ 0 (Ho &amp; Salimans 2022): 0 = unconditional, 1 = plain conditional,
    /// larger = closer to the condition. Ignored when nothing conditions the images. Default 3.</summary>
    public double GuidanceScale { get; init; } = 3;

    /// <summary>Guidance interval and rescale (see <see cref="Samplers.GuidanceOptions"/>). Default null (plain guidance).</summary>
    public GuidanceOptions? Guidance { get; init; }

    /// <summary>Seed of every random draw; the same seed gives the same images on the same machine. Default 0.</summary>
    public long Seed { get; init; }

    /// <summary>Images per network batch, ≥ 1; the images do not depend on it except through floating-point rounding. Default 250.</summary>
    public int BatchSize { get; init; } = 250;

    /// <summary>A picture to start from (image-to-image, Meng et al. 2022: SDEdit): of the model's image size, any pixel
    /// format (converted to the model's channels). Used for every image. Default null.</summary>
    public Image? InitImage { get; init; }

    /// <summary>With <see cref="InitImage"/>: the fraction of the schedule to run, in (0, 1]; 1 keeps almost nothing of
    /// the picture, small values change it little. Default 1.</summary>
    public double Strength { get; init; } = 1;

    /// <summary>Standard normal starting noise instead of noise drawn from <see cref="Seed"/> (diffusers' <c>latents</c>),
    /// shape (<see cref="Count"/>, C, h, w) of what the denoiser sees. Read on the pipeline's thread: keep it alive until
    /// the call completes. Default null.</summary>
    public Tensor? InitialNoise { get; init; }

    /// <summary>Keep every k-th step of the first batch as frames for an animation of the denoising
    /// (<see cref="GenerationResult.SaveGif"/>), up to <see cref="TrajectoryImages"/> images. Null (default) records nothing.</summary>
    public int? TrajectoryEvery { get; init; }

    /// <summary>How many images of the first batch the trajectory shows, ≥ 1. Default 100.</summary>
    public int TrajectoryImages { get; init; } = 100;
}

/// <summary>How far a generation has got; carries no tensors.</summary>
/// <param name="Batch">The current batch, 1 … <paramref name="Batches"/>.</param>
/// <param name="Batches">Batches in the request.</param>
/// <param name="Step">Steps done in the current batch.</param>
/// <param name="Steps">Steps per batch.</param>
/// <param name="ImagesDone">Images finished before the current batch, plus the current batch when its last step is done.</param>
/// <param name="Count">Images requested.</param>
public readonly record struct GenerationProgress(int Batch, int Batches, int Step, int Steps, int ImagesDone, int Count)
{
    /// <summary>A warning about the request (e.g. a truncated prompt), reported once before sampling starts; null in the
    /// step reports.</summary>
    public string? Warning { get; init; }
}

/// <summary>The parameters a generation actually used, after defaults and model constraints.</summary>
/// <param name="Count">Images generated.</param>
/// <param name="Classes">The class of each image, or null when unconditional.</param>
/// <param name="Sampler">The sampler's registry name.</param>
/// <param name="Steps">Sampling steps.</param>
/// <param name="GuidanceScale">The guidance scale applied, or null when nothing conditions the images.</param>
/// <param name="Seed">The seed.</param>
/// <param name="BatchSize">Images per batch.</param>
/// <param name="Strength">The image-to-image strength, or null without an init image.</param>
/// <param name="Width">Image width in pixels.</param>
/// <param name="Height">Image height in pixels.</param>
/// <param name="Device">The device the network ran on.</param>
/// <param name="DType">The network's parameter dtype, or <c>Autocast</c> when float32 weights ran under ATen's autocast.</param>
public sealed record ResolvedGeneration(int Count, IReadOnlyList<int>? Classes, string Sampler, int Steps, double? GuidanceScale, long Seed,
    int BatchSize, double? Strength, int Width, int Height, string Device, string DType)
{
    /// <summary>The prompt of each image (as given, before truncation), or null when no prompts were given.</summary>
    public IReadOnlyList<string>? Prompts { get; init; }

    /// <summary>Warnings about the request (e.g. a truncated prompt); empty when there were none.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];
}
