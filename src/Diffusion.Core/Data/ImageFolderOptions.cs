namespace Diffusion.Core.Data;

/// <summary>How <see cref="ImageFolderDataset"/> reads a folder of images. Immutable; values are checked when set.</summary>
public sealed record ImageFolderOptions
{
    private readonly int _size = 32;
    private readonly int _channels = 3;
    private readonly int? _maxImagesPerClass;
    private readonly int? _holdOutEvery;

    /// <summary>
    /// Side length in pixels of the square images produced: each image is scaled (bicubic) so its shorter side
    /// is this long and then cropped to the centre square. 1 … 4096; default 32.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside 1 … 4096.</exception>
    public int Size
    {
        get => _size;
        init => _size = value is >= 1 and <= 4096 ? value : throw new ArgumentOutOfRangeException(nameof(Size), value, "The image size must be in 1 … 4096 pixels.");
    }

    /// <summary>3 for RGB, 1 for grayscale (luma Y = 0.299 R + 0.587 G + 0.114 B, as PIL computes it). Default 3.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is neither 1 nor 3.</exception>
    public int Channels
    {
        get => _channels;
        init => _channels = value is 1 or 3 ? value : throw new ArgumentOutOfRangeException(nameof(Channels), value, "Channels must be 1 (grayscale) or 3 (RGB).");
    }

    /// <summary>
    /// True (default): each sub-folder is a class (sorted by name; label = position), holding its images at any depth.
    /// False: every image under the folder belongs to one class named after the folder.
    /// </summary>
    public bool ClassFromSubfolder { get; init; } = true;

    /// <summary>Read at most this many images per class (the first in file-name order), e.g. for quick tests; null reads all. Default null.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public int? MaxImagesPerClass
    {
        get => _maxImagesPerClass;
        init => _maxImagesPerClass = value is null or >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(MaxImagesPerClass), value, "MaxImagesPerClass must be at least 1 (or null for all).");
    }

    /// <summary>
    /// Splits the folder without a second copy: with n, every n-th file in sorted order (counted from 1 across classes, after
    /// <see cref="MaxImagesPerClass"/>) is held out, and only the files of one side are decoded (<see cref="HeldOut"/>).
    /// Null (default) reads every file.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 2.</exception>
    public int? HoldOutEvery
    {
        get => _holdOutEvery;
        init => _holdOutEvery = value is null or >= 2 ? value : throw new ArgumentOutOfRangeException(nameof(HoldOutEvery), value, "HoldOutEvery must be at least 2 (or null for no split).");
    }

    /// <summary>With <see cref="HoldOutEvery"/>: true reads only the held-out files (the test split), false (default) all the others.</summary>
    public bool HeldOut { get; init; }
}
