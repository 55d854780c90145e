using System.Diagnostics;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Diffusion.EndToEnd.Tests;

/// <summary>The sample programs, run as a user runs them, each from an empty folder on a tiny budget.</summary>
[Trait("Category", "Slow")]
public sealed class SampleTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(20);

    [Fact]
    public async Task AsyncGenerationRunsOutOfTheBoxAndCtrlCStopsTheQueuedCallers()
    {
        using var dir = new TempDir();
        string sample = Cli.Sample("AsyncGeneration");
        // No model folder: it trains the tiny preset first, then three callers each write a 4 x 4 grid.
        var first = await Cli.RunAsync("", Timeout, null, sample, dir);
        Assert.True(first.ExitCode == 0, first.StdErr + first.StdOut);
        Assert.Contains("caller 0: done", first.StdOut);
        for (int caller = 0; caller < 3; caller++)
        {
            string grid = Path.Combine("async-grids", $"caller-{caller}.png");
            Assert.Contains($"wrote {grid}", first.StdOut);
            using var image = Image.Load<L8>(Path.Combine(dir, grid));
            Assert.Equal(4 * (2 * 28 + 2) + 2, image.Width);      // 4 columns of 2x-scaled 28 px tiles, 2 px padding
        }

        // Ctrl-C (SIGINT) once the first caller's grid is written: that grid stays, the callers still queued stop.
        string model = Path.Combine(dir, "runs", "async-tiny", "model"), stopped = Path.Combine(dir, "stopped");
        var second = await Cli.RunAsync($"\"{model}\" \"{stopped}\"", Timeout, async p =>
        {
            while (!p.HasExited && !(Directory.Exists(stopped) && Directory.GetFiles(stopped, "*.png").Length > 0)) await Task.Delay(20);
            if (p.HasExited) return;
            using var kill = Process.Start("kill", $"-INT {p.Id}")!;
            await kill.WaitForExitAsync();
        }, sample, dir);
        Assert.True(second.ExitCode == 130, $"exit code {second.ExitCode}: {second.StdErr}{second.StdOut}");
        Assert.Contains("cancelled", second.StdErr);
        Assert.InRange(Directory.GetFiles(stopped, "*.png").Length, 1, 2);
    }

    [Fact]
    public async Task MnistQuickstartDrawsSixteenSevens()
    {
        using var dir = new TempDir();
        var r = await Cli.RunAsync("0.05", Timeout, null, Cli.Sample("MnistQuickstart"), dir);   // 3 s of training
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        Assert.Contains("sevens.png and runs/quickstart/model written", r.StdOut);
        using var grid = Image.Load<L8>(Path.Combine(dir, "sevens.png"));
        Assert.Equal((4 * (28 + 2) + 2, 4 * (28 + 2) + 2), (grid.Width, grid.Height));
        Assert.True(File.Exists(Path.Combine(dir, "runs", "quickstart", "model", "model_index.json")));
    }
}
