using System.Globalization;
using System.Text;
using static TorchSharp.torch;

namespace Diffusion.Core.Imaging;

/// <summary>Writes a batch of images as one PNG file each (000000.png, 000001.png, …), e.g. samples for FID.</summary>
public static class ImageFiles
{
    /// <summary>The name of the CSV file of labels: <c>labels.csv</c>, with a <c>file,label</c> header.</summary>
    public const string LabelsFile = "labels.csv";

    /// <summary>
    /// Writes image i as <c>{startIndex + i:D6}.png</c> in <paramref name="dir"/> (grayscale PNGs when C = 1), each atomically.
    /// With <paramref name="labels"/>, also writes <c>labels.csv</c> (<c>file,label</c>); when <paramref name="startIndex"/> &gt; 0
    /// the new rows are appended to an existing labels.csv, so a large set can be written batch by batch.
    /// </summary>
    /// <param name="images">(B, C, H, W) with C = 1 or 3; float values in [−1, 1] (clamped) or uint8 pixels.</param>
    /// <param name="dir">The output directory, created if needed.</param>
    /// <param name="labels">One label per image, or null for no labels.csv.</param>
    /// <param name="startIndex">Number of the first file, ≥ 0.</param>
    /// <returns>The file names written (without directory), in order.</returns>
    /// <exception cref="DiffusionException">The tensor is not an image batch, the label count differs from B, or <paramref name="startIndex"/> is negative.</exception>
    /// <exception cref="IOException">A file cannot be written.</exception>
    public static IReadOnlyList<string> SavePngs(Tensor images, string dir, IReadOnlyList<int>? labels = null, int startIndex = 0)
    {
        ArgumentNullException.ThrowIfNull(dir);
        if (startIndex < 0) throw new DiffusionException($"The first file number must be ≥ 0, got {startIndex}.");
        var pixels = ImagePixels.From(images);
        if (labels is not null && labels.Count != pixels.Count)
            throw new DiffusionException($"Got {labels.Count} labels for {pixels.Count} images.");
        Directory.CreateDirectory(dir);

        var names = new string[pixels.Count];
        for (int i = 0; i < pixels.Count; i++)
        {
            names[i] = (startIndex + i).ToString("D6", CultureInfo.InvariantCulture) + ".png";
            using var image = ImageGrid.Render(pixels.Slice(i), columns: 1, padding: 0, scale: 1);
            ImageGrid.SavePng(image, Path.Combine(dir, names[i]), grayscale: pixels.Channels == 1);
        }

        if (labels is not null)
        {
            string csvPath = Path.Combine(dir, LabelsFile);
            var csv = new StringBuilder();
            if (startIndex > 0 && File.Exists(csvPath)) csv.Append(File.ReadAllText(csvPath));
            else csv.Append("file,label\n");
            for (int i = 0; i < names.Length; i++)
                csv.Append(names[i]).Append(',').Append(labels[i].ToString(CultureInfo.InvariantCulture)).Append('\n');
            AtomicFile.WriteAllText(csvPath, csv.ToString());
        }
        return names;
    }
}
