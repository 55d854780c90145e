namespace Diffusion.Core.Data;

/// <summary>
/// Which random augmentations a training run applies to each image batch, in this order: horizontal flip, random
/// resized crop, colour jitter. Everything is off by default; presets turn on what fits their data (faces and CIFAR-10
/// flip, digits must not). Saved with the run's training options.
/// </summary>
public sealed record AugmentationOptions
{
    /// <summary>No augmentation.</summary>
    public static AugmentationOptions None { get; } = new();

    /// <summary>Mirror each image left-right with probability ½ (<see cref="HorizontalFlip"/>). Default false.</summary>
    public bool HorizontalFlip { get; init; }

    /// <summary>Random resized crop (<see cref="RandomResizedCrop"/>): the smallest share of the image's area a crop may
    /// keep, in (0, 1]; each crop's area is drawn uniformly from [CropMinScale, 1] and resized back to the full size.
    /// Null: no crop. Default null. Faces tolerate little: 0.8 or more.</summary>
    public double? CropMinScale { get; init; }

    /// <summary>Largest aspect ratio (width / height, and its inverse) of a crop, ≥ 1; drawn log-uniformly in
    /// [1 / CropMaxRatio, CropMaxRatio]. Only with <see cref="CropMinScale"/>. Default 1 (square crops keep faces' proportions).</summary>
    public double CropMaxRatio { get; init; } = 1.0;

    /// <summary>Colour jitter (<see cref="ColorJitter"/>): brightness is multiplied by a factor drawn uniformly from
    /// [1 − Brightness, 1 + Brightness], in [0, 1). Default 0 (off).</summary>
    public double Brightness { get; init; }

    /// <summary>Contrast factor range around 1, as <see cref="Brightness"/>: each image is blended with its mean grey level. Default 0.</summary>
    public double Contrast { get; init; }

    /// <summary>Saturation factor range around 1, as <see cref="Brightness"/>: each RGB image is blended with its
    /// greyscale version (ignored for one-channel images). Default 0.</summary>
    public double Saturation { get; init; }

    /// <summary>True when nothing is switched on (the trainer then draws no random numbers for augmentation).</summary>
    public bool IsNone => !HorizontalFlip && CropMinScale is null && Brightness == 0 && Contrast == 0 && Saturation == 0;

    /// <summary>Throws <see cref="DiffusionException"/> when a value is out of range.</summary>
    public void Validate()
    {
        if (CropMinScale is double s && !(s > 0 && s <= 1)) throw new DiffusionException($"CropMinScale must be in (0, 1], got {s}.");
        if (!(CropMaxRatio >= 1) || double.IsInfinity(CropMaxRatio)) throw new DiffusionException($"CropMaxRatio must be a finite number ≥ 1, got {CropMaxRatio}.");
        foreach (var (name, v) in new[] { ("Brightness", Brightness), ("Contrast", Contrast), ("Saturation", Saturation) })
            if (!(v >= 0 && v < 1)) throw new DiffusionException($"{name} must be in [0, 1), got {v}.");
    }

    /// <summary>The augmentation these options describe (validated).</summary>
    /// <exception cref="DiffusionException">A value is out of range.</exception>
    public ImageAugmentation Build()
    {
        Validate();
        var steps = new List<IImageAugmentation>();
        if (HorizontalFlip) steps.Add(new HorizontalFlip());
        if (CropMinScale is double s) steps.Add(new RandomResizedCrop(s, CropMaxRatio));
        if (Brightness > 0 || Contrast > 0 || Saturation > 0) steps.Add(new ColorJitter(Brightness, Contrast, Saturation));
        return new ImageAugmentation(steps);
    }
}
