using System.Text.Json;

namespace Diffusion.EndToEnd.Tests;

/// <summary>Text to image through the real executable: train a few steps of mnist-text (MiniLM and learned encoders),
/// sample with prompts, and the one-line errors of prompts and classes given to the wrong kind of model.</summary>
[Trait("Category", "Slow")]
public sealed class TextToImageTests
{
    [Theory]
    [InlineData("minilm")]
    [InlineData("learned")]
    public void TrainsAShortTextRunAndSamplesWithAPrompt(string encoder)
    {
        using var dir = new TempDir();
        var run = Path.Combine(dir, "run");
        var train = Cli.Run($"train --preset mnist-text --text-encoder {encoder} --steps 4 --batch 8 --out {run}", TimeSpan.FromMinutes(10));
        Assert.True(train.ExitCode == 0, train.StdErr + train.StdOut);
        using (var saved = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "run.json"))))
            Assert.Equal(encoder, saved.RootElement.GetProperty("text").GetProperty("encoder").GetString());
        Assert.True(File.Exists(Path.Combine(run, "model", "conditioner", "config.json")));
        Assert.True(File.Exists(Path.Combine(run, "model", "text_encoder", "config.json")));
        // MiniLM is recorded, not copied: no ONNX model and no weights in text_encoder/ for it.
        Assert.Equal(encoder == "learned", Directory.GetFiles(Path.Combine(run, "model", "text_encoder"), "*.safetensors").Length > 0);
        Assert.Empty(Directory.GetFiles(Path.Combine(run, "model"), "*.onnx", SearchOption.AllDirectories));

        var seven = Path.Combine(dir, "seven.png");
        var sample = Cli.Run($"sample --run {run} --prompt \"draw a seven\" --guidance 4 --count 4 --steps 3 --out {seven}");
        Assert.True(sample.ExitCode == 0, sample.StdErr + sample.StdOut);
        Assert.True(new FileInfo(seven).Length > 100);
        Assert.Contains("\"draw a seven\"", sample.StdOut);

        var two = Cli.Run($"sample --run {run} --prompt \"a seven\" --prompt \"a three\" --count 4 --steps 2 --out {dir}/two.png");
        Assert.True(two.ExitCode == 0, two.StdErr);

        var uneven = Cli.Run($"sample --run {run} --prompt a --prompt b --prompt c --count 4 --steps 2 --out {dir}/x.png");
        Assert.Equal(2, uneven.ExitCode);
        Assert.StartsWith("error: 3 prompts do not split --count 4", uneven.StdErr.Trim());

        var cls = Cli.Run($"sample --run {run} --class 7 --count 2 --steps 2 --out {dir}/x.png");
        Assert.Equal(2, cls.ExitCode);
        Assert.Single(cls.StdErr.Trim().Split('\n'));
        Assert.Contains("text-conditional", cls.StdErr);

        var longPrompt = string.Join(' ', Enumerable.Repeat("seven", 40));
        var truncated = Cli.Run($"sample --run {run} --prompt \"{longPrompt}\" --count 2 --steps 2 --out {dir}/long.png");
        Assert.True(truncated.ExitCode == 0, truncated.StdErr);
        Assert.Single(truncated.StdErr.Split('\n'), l => l.StartsWith("warning:", StringComparison.Ordinal) && l.Contains("truncated", StringComparison.Ordinal));
    }

    [Fact]
    public void APromptForAClassModelAndATextEncoderForAClassPresetAreOneLineErrors()
    {
        using var dir = new TempDir();
        var run = Path.Combine(dir, "run");
        var train = Cli.Run($"train --preset tiny --steps 2 --out {run}");
        Assert.True(train.ExitCode == 0, train.StdErr + train.StdOut);
        var prompt = Cli.Run($"sample --run {run} --prompt \"draw a seven\" --count 2 --steps 2 --out {dir}/x.png");
        Assert.Equal(2, prompt.ExitCode);
        Assert.Equal("error: This model is class-conditional: it takes no --prompt; use --class.", prompt.StdErr.Trim());
        var encoder = Cli.Run($"train --preset mnist --text-encoder learned --steps 2 --out {dir}/other");
        Assert.Equal(2, encoder.ExitCode);
        Assert.StartsWith("error: Preset 'mnist' is not text-conditioned", encoder.StdErr.Trim());
    }

    [Fact]
    public void ThePromptAccuracyBenchmarkWritesItsReport()
    {
        using var dir = new TempDir();
        var r = Cli.RunDll(Cli.Benchmark("Diffusion.Benchmarks.Text"),
            $"--encoders learned --minutes 0.05 --per-prompt 1 --scales 1,3 --steps 1 --runs {dir}/runs --out {dir}/out", TimeSpan.FromMinutes(20));
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        foreach (var f in new[] { "text.json", "text.md", "grid-learned.png", "tsne-learned.png" })
            Assert.True(File.Exists(Path.Combine(dir, "out", f)), $"missing {f}");
        using var report = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "out", "text.json")));
        var encoder = Assert.Single(report.RootElement.GetProperty("encoders").EnumerateArray());
        var scales = encoder.GetProperty("scales").EnumerateArray().ToList();
        Assert.Equal([1.0, 3.0], scales.Select(s => s.GetProperty("guidance").GetDouble()));
        // 40 held-out prompts, one image each: the accuracy is the share of correct prompts.
        Assert.All(scales, s => Assert.Equal(s.GetProperty("prompts").EnumerateArray().Sum(p => p.GetProperty("correct").GetInt32()) / 40.0,
            s.GetProperty("heldOutAccuracy").GetDouble(), 12));
        Assert.Equal(4, scales[0].GetProperty("noClass").GetArrayLength());
        Assert.All(scales[0].GetProperty("noClass").EnumerateArray(), n => Assert.Equal(1, n.GetProperty("predictedCounts").EnumerateArray().Sum(c => c.GetInt64())));
    }
}
