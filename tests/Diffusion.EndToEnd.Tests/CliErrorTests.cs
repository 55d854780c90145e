using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Diffusion.EndToEnd.Tests;

/// <summary>The command line's error paths, each through the real executable: one <c>error:</c> line naming what is
/// wrong, exit code 2, no stack trace, and nothing written.</summary>
public sealed class CliErrorTests
{
    [Theory]
    [InlineData("sample --run", "Required argument missing for option: '--run'")]
    [InlineData("sample runs/x", "Unexpected argument 'runs/x' for 'sample'")]
    [InlineData("sample --run {dir} --count abc", "--count must be a whole number, got 'abc'")]
    [InlineData("sample --run {dir} --count -3", "--count must be between 1 and 100000, got -3")]
    [InlineData("sample --run {dir} --count 99999999999999999999", "--count must be a whole number")]
    [InlineData("sample --run {dir} --guidance -1", "--guidance must be between 0 and 100, got -1")]
    [InlineData("sample --run {dir} --guidance nan", "--guidance")]
    [InlineData("sample --run {dir} --steps 2.5", "--steps must be a whole number, got '2.5'")]
    [InlineData("sample --run {dir} --sampler warp", "warp")]
    [InlineData("train --preset tiny --precision fp13 --steps 1 --out {dir}/run", "Unknown precision 'fp13'. Valid: auto, bf16, fp32, autocast")]
    [InlineData("train --preset tiny --steps 0 --out {dir}/run", "--steps must be at least 1, got 0")]
    [InlineData("train --preset tiny --batch 0 --steps 1 --out {dir}/run", "--batch must be between 1 and 65536, got 0")]
    [InlineData("train --preset tiny --minutes -2 --out {dir}/run", "--minutes")]
    [InlineData("train --preset tiny --devices cpu,cpu --distributed --out {dir}/run", "--devices and --distributed do not go together")]
    [InlineData("train --preset tiny --devices cpu,cpu --device cpu --out {dir}/run", "--devices replaces --device")]
    [InlineData("train --preset tiny --devices cpu,tpu --steps 1 --out {dir}/run", "Unknown device 'tpu'")]
    [InlineData("eval --run {dir} --features foo", "Unknown features 'foo'. Valid: classifier, resnet18, inception")]
    [InlineData("eval --run {dir} --metrics bogus", "Unknown metric 'bogus'. Valid: fid, kid, is, pr, accuracy")]
    [InlineData("eval --run {dir} --guidance 1,x", "--guidance")]
    public void BadValuesAreOneLineErrors(string arguments, string expected)
    {
        using var dir = new TempDir();
        var r = Cli.Run(arguments.Replace("{dir}", dir.Path));
        Cli.AssertOneLineError(r, expected);
        Assert.False(Directory.Exists(Path.Combine(dir, "run")), "a refused command must not create its run folder");
    }

    [Fact]
    public void AClassForAnUnconditionalModelAndACorruptedCheckpointAreRefused()
    {
        using var dir = new TempDir();
        // An image folder has no labels, so the run is unconditional.
        var images = Path.Combine(dir, "images");
        Directory.CreateDirectory(images);
        for (int i = 0; i < 12; i++)
        {
            using var image = new Image<L8>(28, 28, new L8((byte)(20 * i)));
            image.SaveAsPng(Path.Combine(images, $"{i:00}.png"));
        }
        var run = Path.Combine(dir, "run");
        var train = Cli.Run($"train --preset tiny --dataset folder:{images} --batch 4 --steps 2 --out {run}");
        Assert.True(train.ExitCode == 0, train.StdErr + train.StdOut);

        Cli.AssertOneLineError(Cli.Run($"sample --run {run} --class 3 --out {dir}/x.png"), "unconditional");
        Assert.False(File.Exists(Path.Combine(dir, "x.png")));
        var ok = Cli.Run($"sample --run {run} --count 2 --steps 2 --out {dir}/ok.png");
        Assert.True(ok.ExitCode == 0, ok.StdErr + ok.StdOut);

        // One byte flipped in the middle of the model's weights, the length unchanged: refused, the file named.
        var weights = Path.Combine(run, "model", "unet", "diffusion_pytorch_model.safetensors");
        FlipMiddleByte(weights);
        Cli.AssertOneLineError(Cli.Run($"sample --run {run} --count 2 --steps 2 --out {dir}/bad.png"), "diffusion_pytorch_model.safetensors");
        Assert.False(File.Exists(Path.Combine(dir, "bad.png")));

        // The same in the training checkpoint: resuming refuses it and names it.
        var ema = Path.Combine(run, "checkpoints", "latest", "ema.safetensors");
        FlipMiddleByte(ema);
        var resume = Cli.Run($"train --preset tiny --dataset folder:{images} --batch 4 --steps 4 --out {run}");
        Assert.NotEqual(0, resume.ExitCode);
        Assert.Contains("ema.safetensors", resume.StdErr);
        Assert.DoesNotContain("   at ", resume.StdErr + resume.StdOut);
    }

    private static void FlipMiddleByte(string path)
    {
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(path, bytes);
    }
}
