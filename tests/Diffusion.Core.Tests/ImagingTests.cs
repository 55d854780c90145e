using Diffusion.Core.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Tests;

public sealed class ImagingTests
{
    /// <summary>B images (B, C, 3, 2) in [−1, 1] holding exactly representable pixel values u/127.5 − 1.</summary>
    private static (Tensor X, byte[] U) Images(int b, int c)
    {
        var u = new byte[b * c * 3 * 2];
        for (int i = 0; i < u.Length; i++) u[i] = (byte)(i * 37 % 256);
        var x = tensor(u, new long[] { b, c, 3, 2 }, dtype: ScalarType.Byte).to(ScalarType.Float32) / 127.5 - 1;
        return (x, u);
    }

    [Theory]
    [InlineData(1, 5, 3, 2, 1)]
    [InlineData(3, 5, 2, 1, 2)]
    [InlineData(3, 4, 4, 0, 3)]
    public void GridPngHasExpectedSizeAndPixels(int channels, int count, int columns, int padding, int scale)
    {
        using var dir = new TempDir();
        using var scope = NewDisposeScope();
        var (x, u) = Images(count, channels);
        string path = dir.File("grid.png");
        ImageGrid.SavePng(x, path, columns, padding, scale);

        int rows = (count + columns - 1) / columns;
        using var png = Image.Load<Rgb24>(path);
        Assert.Equal(columns * (2 * scale + padding) + padding, png.Width);
        Assert.Equal(rows * (3 * scale + padding) + padding, png.Height);
        Assert.Equal(channels == 1 ? PngColorType.Grayscale : PngColorType.Rgb, png.Metadata.GetPngMetadata().ColorType);

        for (int i = 0; i < count; i++)
            for (int y = 0; y < 3 * scale; y++)
                for (int xx = 0; xx < 2 * scale; xx++)
                {
                    var p = png[padding + (i % columns) * (2 * scale + padding) + xx, padding + (i / columns) * (3 * scale + padding) + y];
                    byte Expected(int c) => u[((i * channels + (channels == 1 ? 0 : c)) * 3 + y / scale) * 2 + xx / scale];
                    Assert.Equal((Expected(0), Expected(1), Expected(2)), (p.R, p.G, p.B));
                }
        if (padding > 0) Assert.Equal(new Rgb24(0, 0, 0), png[0, 0]);
        Assert.Single(Directory.GetFiles(dir.Path)); // the temporary file was renamed away
    }

    [Fact]
    public void GridClampsOutOfRangeValuesAndNaN()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new float[] { -3f, 5f, float.NaN, 0f }, new long[] { 1, 1, 2, 2 });
        using var img = ImageGrid.ToImage(x, columns: 1, padding: 0);
        Assert.Equal(0, img[0, 0].R);
        Assert.Equal(255, img[1, 0].R);
        Assert.Equal(128, img[0, 1].R);
        Assert.Equal(128, img[1, 1].R);
    }

    [Fact]
    public void GridAcceptsUInt8AndSingleImage()
    {
        using var scope = NewDisposeScope();
        var u = tensor(new byte[] { 10, 20, 30, 40, 50, 60 }, new long[] { 3, 1, 2 }, dtype: ScalarType.Byte);
        using var img = ImageGrid.ToImage(u, padding: 1);
        Assert.Equal(4, img.Width);
        Assert.Equal(3, img.Height);
        Assert.Equal(new Rgb24(10, 30, 50), img[1, 1]);
        Assert.Equal(new Rgb24(20, 40, 60), img[2, 1]);
    }

    [Fact]
    public void GridRejectsBadShapes()
    {
        using var scope = NewDisposeScope();
        Assert.Throws<DiffusionException>(() => ImageGrid.ToImage(zeros(2, 2, 4, 4)));
        Assert.Throws<DiffusionException>(() => ImageGrid.ToImage(zeros(4, 4)));
        Assert.Throws<DiffusionException>(() => ImageGrid.ToImage(zeros(1, 1, 4, 4), scale: 0));
        Assert.Throws<DiffusionException>(() => ImageGrid.ToImage(zeros(0, 1, 4, 4)));
    }

    [Fact]
    public void GifHasOneFramePerStepAndLoops()
    {
        using var dir = new TempDir();
        using var scope = NewDisposeScope();
        var frames = Enumerable.Range(0, 5).Select(i => full(new long[] { 4, 3, 8, 8 }, -1 + i * 0.5f)).ToList();
        string path = dir.File("traj.gif");
        TrajectoryGif.Save(frames, path, columns: 2, frameDelayMs: 80, lastFrameHoldMs: 1500);

        using var gif = Image.Load<Rgb24>(path);
        Assert.Equal(5, gif.Frames.Count);
        Assert.Equal(2 * (8 + 2) + 2, gif.Width);
        Assert.Equal(0, gif.Metadata.GetGifMetadata().RepeatCount);
        Assert.Equal(8, gif.Frames[0].Metadata.GetGifMetadata().FrameDelay);
        Assert.Equal(150, gif.Frames[4].Metadata.GetGifMetadata().FrameDelay);
        Assert.InRange(gif.Frames[0][5, 5].R, 0, 2);
        Assert.InRange(gif.Frames[4][5, 5].R, 253, 255);
    }

    [Fact]
    public void GifRejectsMismatchedFrames()
    {
        using var dir = new TempDir();
        using var scope = NewDisposeScope();
        var frames = new[] { zeros(2, 1, 4, 4), zeros(2, 1, 5, 5) };
        Assert.Throws<DiffusionException>(() => TrajectoryGif.Save(frames, dir.File("x.gif")));
        Assert.Throws<DiffusionException>(() => TrajectoryGif.Save(Array.Empty<Tensor>(), dir.File("x.gif")));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void RecorderKeepsEveryKthStepAndTheLast()
    {
        using var dir = new TempDir();
        using var recorder = new TrajectoryRecorder(every: 3, maxImages: 2);
        for (int step = 1; step <= 10; step++)
        {
            using var scope = NewDisposeScope();
            var x = full(new long[] { 4, 1, 6, 6 }, step / 10f);
            recorder.Record(new SamplingStep(step, 10, x, x));
        }
        Assert.Equal(4, recorder.Frames.Count); // steps 3, 6, 9, 10
        Assert.Equal(new long[] { 2, 1, 6, 6 }, recorder.Frames[0].shape);
        Assert.Equal(ScalarType.Byte, recorder.Frames[0].dtype);
        recorder.SaveGif(dir.File("r.gif"));
        using var gif = Image.Load(dir.File("r.gif"));
        Assert.Equal(4, gif.Frames.Count);
    }

    [Fact]
    public void SavePngsWritesFilesAndLabels()
    {
        using var dir = new TempDir();
        using var scope = NewDisposeScope();
        var (x, u) = Images(3, 3);
        var names = ImageFiles.SavePngs(x, dir.Path, new[] { 4, 0, 9 });
        Assert.Equal(new[] { "000000.png", "000001.png", "000002.png" }, names);
        Assert.Equal("file,label\n000000.png,4\n000001.png,0\n000002.png,9\n", File.ReadAllText(dir.File("labels.csv")));
        using (var png = Image.Load<Rgb24>(dir.File("000001.png")))
        {
            Assert.Equal((2, 3), (png.Width, png.Height));
            Assert.Equal(u[(1 * 3 + 0) * 6 + 1 * 2 + 1], png[1, 1].R);
            Assert.Equal(u[(1 * 3 + 2) * 6 + 1 * 2 + 1], png[1, 1].B);
        }

        var more = ImageFiles.SavePngs(x.narrow(0, 0, 2), dir.Path, new[] { 1, 2 }, startIndex: 3);
        Assert.Equal(new[] { "000003.png", "000004.png" }, more);
        Assert.Equal("file,label\n000000.png,4\n000001.png,0\n000002.png,9\n000003.png,1\n000004.png,2\n", File.ReadAllText(dir.File("labels.csv")));
        Assert.Equal(6, Directory.GetFiles(dir.Path).Length);
    }

    [Fact]
    public void SavePngsWithoutLabelsWritesNoCsv()
    {
        using var dir = new TempDir();
        using var scope = NewDisposeScope();
        var (x, _) = Images(2, 1);
        ImageFiles.SavePngs(x, dir.Path);
        Assert.False(File.Exists(dir.File("labels.csv")));
        Assert.Throws<DiffusionException>(() => ImageFiles.SavePngs(x, dir.Path, new[] { 1 }));
    }
}
