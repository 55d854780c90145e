using System.Text.Json;

namespace Diffusion.EndToEnd.Tests;

public sealed class TrainVaeTests
{
    /// <summary>`diffusion train-vae` on the tiny preset: the model folder, grid and scores appear, and the printed
    /// scores are the ones in vae-result.json.</summary>
    [Fact]
    [Trait("Category", "Slow")]
    public void TrainVaeWritesModelGridAndScores()
    {
        using var dir = new TempDir();
        var run = Path.Combine(dir, "vae");
        var r = Cli.Run($"train-vae --preset tiny-vae --steps 2 --batch 8 --precision fp32 --out {run} --data-dir {Cli.DataDir()}", TimeSpan.FromMinutes(5));
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        foreach (var file in new[] { "vae-run.json", "vae-result.json", "reconstructions.png", "model/config.json", "model/diffusion_pytorch_model.safetensors", "checkpoints/latest/ema.safetensors" })
            Assert.True(File.Exists(Path.Combine(run, file)), $"{file} is missing");
        var result = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "vae-result.json"))).RootElement;
        Assert.Equal(2, result.GetProperty("steps").GetInt32());
        Assert.Contains($"PSNR {result.GetProperty("psnr").GetDouble():F2} dB", r.StdOut);
        var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "model", "config.json"))).RootElement;
        Assert.Equal("AutoencoderKL", config.GetProperty("_class_name").GetString());
        Assert.Equal(result.GetProperty("scalingFactor").GetDouble(), config.GetProperty("scaling_factor").GetDouble());
    }

    [Fact]
    public void AnUnknownVaePresetIsOneError()
    {
        var r = Cli.Run("train-vae --preset nope");
        Assert.Equal(2, r.ExitCode);
        var lines = r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: Unknown VAE preset 'nope'. Valid: faces-vae, faces128-vae, tiny-vae", lines[0]);
    }
}
