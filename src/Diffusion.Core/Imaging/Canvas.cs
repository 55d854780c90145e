using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Diffusion.Core.Imaging;

/// <summary>
/// A plain RGB pixel buffer with the few drawing primitives a chart needs: clipped pixels, Bresenham
/// lines, rectangles and 5×7 bitmap text. Turned into an ImageSharp image at the end.
/// </summary>
internal sealed class Canvas
{
    private readonly Rgb24[] _pixels;

    /// <summary>A canvas of <paramref name="width"/>×<paramref name="height"/> filled with <paramref name="background"/>.</summary>
    public Canvas(int width, int height, Rgb24 background)
    {
        Width = width;
        Height = height;
        _pixels = new Rgb24[width * height];
        Array.Fill(_pixels, background);
        ResetClip();
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    private (int X0, int Y0, int X1, int Y1) _clip;

    /// <summary>Limits drawing to the rectangle [x0, x1] × [y0, y1] (inclusive).</summary>
    public void SetClip(int x0, int y0, int x1, int y1) => _clip = (Math.Max(0, x0), Math.Max(0, y0), Math.Min(Width - 1, x1), Math.Min(Height - 1, y1));

    /// <summary>Allows drawing anywhere on the canvas.</summary>
    public void ResetClip() => _clip = (0, 0, Width - 1, Height - 1);

    /// <summary>The colour at (x, y).</summary>
    public Rgb24 this[int x, int y] => _pixels[y * Width + x];

    /// <summary>Sets (x, y) when it lies inside the clip rectangle.</summary>
    public void Set(int x, int y, Rgb24 color)
    {
        if (x < _clip.X0 || x > _clip.X1 || y < _clip.Y0 || y > _clip.Y1) return;
        _pixels[y * Width + x] = color;
    }

    /// <summary>Fills the rectangle [x0, x1] × [y0, y1] (inclusive).</summary>
    public void Fill(int x0, int y0, int x1, int y1, Rgb24 color)
    {
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++)
                Set(x, y, color);
    }

    /// <summary>Draws a 1-pixel rectangle outline.</summary>
    public void Rectangle(int x0, int y0, int x1, int y1, Rgb24 color)
    {
        Line(x0, y0, x1, y0, color);
        Line(x0, y1, x1, y1, color);
        Line(x0, y0, x0, y1, color);
        Line(x1, y0, x1, y1, color);
    }

    /// <summary>
    /// Draws a line from (x0, y0) to (x1, y1) with Bresenham's integer algorithm; <paramref name="thickness"/> &gt; 1
    /// stamps a small square at every point.
    /// </summary>
    public void Line(int x0, int y0, int x1, int y1, Rgb24 color, int thickness = 1)
    {
        int dx = Math.Abs(x1 - x0), dy = -Math.Abs(y1 - y0);
        int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
        int err = dx + dy;
        int lo = -(thickness - 1) / 2, hi = thickness / 2;
        while (true)
        {
            if (thickness <= 1) Set(x0, y0, color);
            else
                for (int oy = lo; oy <= hi; oy++)
                    for (int ox = lo; ox <= hi; ox++)
                        Set(x0 + ox, y0 + oy, color);
            if (x0 == x1 && y0 == y1) break;
            int e2 = 2 * err;
            if (e2 >= dy) { err += dy; x0 += sx; }
            if (e2 <= dx) { err += dx; y0 += sy; }
        }
    }

    /// <summary>Draws <paramref name="text"/> with its top-left corner at (x, y), each font pixel as a <paramref name="scale"/>² block.</summary>
    public void Text(int x, int y, string text, Rgb24 color, int scale = 1)
    {
        foreach (char c in text)
        {
            var glyph = BitmapFont.Glyph(c);
            for (int gy = 0; gy < BitmapFont.CellHeight; gy++)
                for (int gx = 0; gx < BitmapFont.GlyphWidth; gx++)
                    if (glyph[gy, gx])
                        Fill(x + gx * scale, y + gy * scale, x + (gx + 1) * scale - 1, y + (gy + 1) * scale - 1, color);
            x += BitmapFont.Advance * scale;
        }
    }

    /// <summary>Copies the canvas into a new image the caller disposes.</summary>
    public Image<Rgb24> ToImage() => Image.LoadPixelData<Rgb24>(_pixels, Width, Height);
}
