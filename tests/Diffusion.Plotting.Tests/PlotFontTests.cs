using ScottPlot;

namespace Diffusion.Plotting.Tests;

/// <summary>The charts' text does not depend on the machine's fonts (a machine without any draws no text otherwise).</summary>
public sealed class PlotFontTests
{
    [Fact]
    public void ChartsAskForTheEmbeddedFontWhichNoSystemProvides()
    {
        using var plot = PlotRendering.NewPlot();
        Assert.Equal(PlotFont.Name, plot.Axes.Bottom.TickLabelStyle.FontName);
        Assert.Equal(PlotFont.Name, plot.Axes.Title.Label.FontName);
        Assert.Equal(PlotFont.Name, plot.Legend.FontName);
        Assert.False(plot.Legend.SetBestFontOnEachRender);

        // Only the embedded resolver knows the name, and it answers with DejaVu Sans read from this assembly.
        Assert.DoesNotContain(PlotFont.Name, SkiaSharp.SKFontManager.Default.FontFamilies);
        var typeface = Fonts.GetTypeface(PlotFont.Name, bold: false, italic: false);
        Assert.Equal("DejaVu Sans", typeface.FamilyName);
        Assert.Equal("DejaVu Sans", PlotFont.Typeface.FamilyName);
        Assert.True(PlotFont.Typeface.ContainsGlyphs("0123456789 αβσ loss×"));
    }
}
