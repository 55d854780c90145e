using ScottPlot;
using SkiaSharp;

namespace Diffusion.Plotting;

/// <summary>
/// The font of every chart: DejaVu Sans, embedded in this assembly. SkiaSharp's Linux build (NoDependencies) finds system
/// fonts only by scanning /usr/share/fonts; on a machine without fonts there ScottPlot draws every label as nothing, with
/// no error (measured: an empty chart frame). Embedding the font makes text readable everywhere and the pixels identical
/// on every machine.
/// </summary>
internal static class PlotFont
{
    /// <summary>The family name charts ask ScottPlot for; only <see cref="Resolver"/> answers it, so a program's own
    /// ScottPlot charts keep their fonts.</summary>
    public const string Name = "DejaVu Sans (Diffusion.Plotting)";

    private static readonly Lazy<SKData> Data = new(() => Load("Diffusion.Plotting.DejaVuSans.ttf"));
    private static readonly Lazy<SKTypeface> Face = new(() => Create(Data.Value));
    private static readonly object Gate = new();
    private static bool _registered;

    /// <summary>The typeface for drawing with SkiaSharp directly; shared, never disposed.</summary>
    public static SKTypeface Typeface => Face.Value;

    /// <summary>Adds the resolver for <see cref="Name"/> in front of ScottPlot's global list, once per process.</summary>
    public static void Register()
    {
        lock (Gate)
        {
            if (_registered) return;
            Fonts.FontResolvers.Insert(0, new Resolver());
            _registered = true;
        }
    }

    private static SKData Load(string resource)
    {
        using var stream = typeof(PlotFont).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"The embedded font {resource} is missing from Diffusion.Plotting.");
        return SKData.Create(stream);
    }

    private static SKTypeface Create(SKData data)
        => SKTypeface.FromData(data) ?? throw new InvalidOperationException("SkiaSharp could not read the embedded DejaVu Sans font.");

    /// <summary>Answers <see cref="Name"/> with a new typeface of the embedded data (ScottPlot caches it, and may dispose
    /// the ones it only probes) and every other name with null, so ScottPlot asks the next resolver. There is one face:
    /// ScottPlot 5.1.59 asks for the regular one only, even for its bold-styled title (measured).</summary>
    private sealed class Resolver : IFontResolver
    {
        public SKTypeface? CreateTypeface(string fontName, FontWeight weight, FontSlant slant, FontSpacing width) => CreateTypeface(fontName, false, false);

        public SKTypeface? CreateTypeface(string fontName, bool bold, bool italic) => fontName == Name ? Create(Data.Value) : null;
    }
}
