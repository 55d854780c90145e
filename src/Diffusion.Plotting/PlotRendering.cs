using Diffusion.Core;
using ScottPlot;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using Color = ScottPlot.Color;
using Image = SixLabors.ImageSharp.Image;

namespace Diffusion.Plotting;

/// <summary>What every chart shares: a ScottPlot <see cref="Plot"/> in the embedded font on white, rendered to an
/// ImageSharp image (the SDK's image type) and written as an RGB PNG.</summary>
internal static class PlotRendering
{
    /// <summary>Near-black for text, frame and ticks.</summary>
    public static readonly Rgb24 Ink = new(40, 40, 40);

    /// <summary>A new plot whose every text element (title, axis labels, tick labels, legend) uses <see cref="PlotFont"/>.</summary>
    public static Plot NewPlot()
    {
        PlotFont.Register();
        var plot = new Plot();
        plot.Font.Set(PlotFont.Name);
        // Otherwise the legend picks a system font per render from its text, which may be none at all.
        plot.Legend.SetBestFontOnEachRender = false;
        plot.Legend.FontName = PlotFont.Name;
        plot.Legend.FontColor = ToColor(Ink);
        plot.FigureBackground.Color = Colors.White;
        plot.DataBackground.Color = Colors.White;
        plot.Axes.Color(ToColor(Ink));
        return plot;
    }

    /// <summary>ScottPlot's colour for an ImageSharp one.</summary>
    public static Color ToColor(Rgb24 c) => new(c.R, c.G, c.B);

    /// <summary>Renders <paramref name="plot"/> at <paramref name="width"/>×<paramref name="height"/> pixels into a new image the caller disposes.</summary>
    public static Image<Rgb24> ToImage(Plot plot, int width, int height)
        => Image.Load<Rgb24>(plot.GetImageBytes(width, height, ImageFormat.Png));

    /// <summary>Copies a ScottPlot image (e.g. a legend from <see cref="Plot.GetLegendImage"/>) into a new image the caller
    /// disposes, flattened onto white; disposes <paramref name="image"/>.</summary>
    public static Image<Rgb24> ToImage(ScottPlot.Image image)
    {
        using (image)
        {
            using var rgba = Image.Load<Rgba32>(image.GetImageBytes(ImageFormat.Png, 100));
            var rgb = new Image<Rgb24>(rgba.Width, rgba.Height, new Rgb24(255, 255, 255));
            rgb.Mutate(c => c.DrawImage(rgba, 1f));
            return rgb;
        }
    }

    /// <summary>Encodes <paramref name="image"/> as an 8-bit RGB PNG into <paramref name="path"/> atomically, creating its folder.</summary>
    public static void SavePng(Image image, string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var encoder = new PngEncoder { ColorType = PngColorType.Rgb, BitDepth = PngBitDepth.Bit8 };
        AtomicFile.Write(path, tmp => image.Save(tmp, encoder));
    }
}
