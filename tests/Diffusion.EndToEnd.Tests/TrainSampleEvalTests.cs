using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Diffusion.EndToEnd.Tests;

/// <summary>The user's loop on a tiny preset, through the real executable: train, sample, eval, crash, resume.</summary>
[Trait("Category", "Slow")]
public sealed class TrainSampleEvalTests
{
    [Fact]
    public void TrainSampleEvalLoopProducesEveryArtifact()
    {
        using var dir = new TempDir();
        var run = Path.Combine(dir, "run");
        var train = Cli.Run($"train --preset tiny --steps 30 --schedule cosine --prediction v --out {run}");
        Assert.True(train.ExitCode == 0, train.StdErr + train.StdOut);
        foreach (var f in new[] { "run.json", "training.json", "metrics.jsonl", "loss.png", "train-result.json", "checkpoints/latest/ema.safetensors" })
            Assert.True(File.Exists(Path.Combine(run, f)), $"missing {f}");
        using (var saved = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "run.json"))))
        {
            // Sampling and evaluation below read both back.
            Assert.Equal("Cosine", saved.RootElement.GetProperty("schedule").GetProperty("kind").GetString());
            Assert.Equal("V", saved.RootElement.GetProperty("model").GetProperty("prediction").GetString());
        }

        var grid = Path.Combine(dir, "grid.png");
        var sample = Cli.Run($"sample --run {run} --class 7 --count 8 --steps 5 --sampler dpmpp_2m --out {grid} --gif {dir}/d.gif --png-dir {dir}/pngs");
        Assert.True(sample.ExitCode == 0, sample.StdErr);
        Assert.True(new FileInfo(grid).Length > 100);
        Assert.True(File.Exists(Path.Combine(dir, "d.gif")));
        var csv = File.ReadAllLines(Path.Combine(dir, "pngs", "labels.csv"));
        Assert.Equal(9, csv.Length);
        Assert.All(csv.Skip(1), l => Assert.EndsWith(",7", l));

        // Guidance interval and rescale reach the sampler: same seed and scale, different images; a reversed interval is refused.
        var plain = Cli.Run($"sample --run {run} --count 4 --steps 5 --guidance 3 --out {dir}/plain.png");
        var varied = Cli.Run($"sample --run {run} --count 4 --steps 5 --guidance 3 --guidance-interval 0.28,5.42 --guidance-rescale 0.7 --out {dir}/varied.png");
        Assert.True(plain.ExitCode == 0 && varied.ExitCode == 0, plain.StdErr + varied.StdErr);
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(dir, "plain.png")), File.ReadAllBytes(Path.Combine(dir, "varied.png")));
        var reversed = Cli.Run($"sample --run {run} --count 4 --steps 5 --guidance-interval 5,1 --out {dir}/x.png");
        Assert.Equal(2, reversed.ExitCode);
        Assert.Contains("--guidance-interval takes two noise levels", reversed.StdErr);

        var eval = Cli.Run($"eval --run {run} --count 5 --guidance 1,3 --steps 5 --classifier-dir {dir}/classifiers", TimeSpan.FromMinutes(40));
        Assert.True(eval.ExitCode == 0, eval.StdErr + eval.StdOut);
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "eval.json")));
        var results = report.RootElement.GetProperty("results");
        Assert.Equal(2, results.GetArrayLength());
        foreach (var r in results.EnumerateArray())
        {
            Assert.Equal(50, r.GetProperty("count").GetInt64());
            // The overall accuracy is the correct share of the per-class counts: 10 classes, 5 images each.
            var perClass = r.GetProperty("perClass").EnumerateArray().ToList();
            Assert.Equal(Enumerable.Range(0, 10), perClass.Select(c => c.GetProperty("class").GetInt32()));
            Assert.All(perClass, c => Assert.Equal(5, c.GetProperty("count").GetInt64()));
            Assert.Equal(perClass.Sum(c => c.GetProperty("correct").GetInt64()) / 50.0, r.GetProperty("accuracy").GetDouble(), 12);
        }
        Assert.True(report.RootElement.GetProperty("classifierTestAccuracy").GetDouble() >= 0.99);

        // The comparison page: one metrics row with floors and the run's grid copied next to the page.
        var own = Cli.Run($"sample --run {run} --count 20 --steps 3");
        Assert.True(own.ExitCode == 0, own.StdErr);
        var page = Cli.Run($"report --runs {run} --out {dir}/page/datasets.md");
        Assert.True(page.ExitCode == 0, page.StdErr + page.StdOut);
        var md = File.ReadAllText(Path.Combine(dir, "page", "datasets.md"));
        Assert.Contains("| run | mnist | 28×28×1 |", md);
        Assert.Contains("(99.", md);                                      // class accuracy's floor: the classifier's test accuracy
        Assert.Contains(", predicts v, cosine schedule |", md);           // what the run changed from the usual recipe
        Assert.True(File.Exists(Path.Combine(dir, "page", "images", "run-grid.png")));
        Assert.Contains("](images/run-grid.png)", md);

        // The guidance study and the sampler sweep on the same run and cached classifier: every file, every setting.
        var study = Cli.RunDll(Cli.Benchmark("Diffusion.Benchmarks.Guidance"),
            $"--run {run} --count 3 --scales 1,3 --variant-scales 3 --steps 3 --out {dir}/guidance --classifier-dir {dir}/classifiers --reference-dir {dir}/references");
        Assert.True(study.ExitCode == 0, study.StdErr + study.StdOut);
        foreach (var f in new[] { "guidance.json", "guidance.md", "guidance-grid.png", "guidance-accuracy.png", "guidance-fid.png", "tsne-real.png", "tsne-w1.png", "tsne-w3.png", "tsne-class-embeddings.png" })
            Assert.True(File.Exists(Path.Combine(dir, "guidance", f)), $"missing {f}");
        using var guidance = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "guidance", "guidance.json")));
        var settings = guidance.RootElement.GetProperty("settings").EnumerateArray().ToList();
        Assert.Equal(["w=1", "w=3", "w=3 interval", "w=3 rescale 0.7"], settings.Select(s => s.GetProperty("label").GetString()));
        // Every setting judged all 30 of its images (3 per class): its accuracy is a whole number of them.
        Assert.All(settings, s => Assert.Equal(Math.Round(s.GetProperty("accuracy").GetDouble() * 30), s.GetProperty("accuracy").GetDouble() * 30, 9));
        Assert.True(guidance.RootElement.GetProperty("complete").GetBoolean());

        var sweep = Cli.RunDll(Cli.Benchmark("Diffusion.Benchmarks.Quality"),
            $"--run {run} --count 20 --samplers ddim,heun --nfe 2,4 --reference-samplers ddim --reference-above 2 --out {dir}/quality --classifier-dir {dir}/classifiers");
        Assert.True(sweep.ExitCode == 0, sweep.StdErr + sweep.StdOut);
        using var quality = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "quality", "quality.json")));
        Assert.Equal(3, quality.RootElement.GetProperty("settings").GetArrayLength()); // ddim and heun at 2 NFE, only the reference sampler (ddim) at 4
        var bad = Cli.RunDll(Cli.Benchmark("Diffusion.Benchmarks.Guidance"), $"--run {run} --interval-sigma 5,1");
        Assert.Equal(2, bad.ExitCode);
        Assert.StartsWith("error: --interval-sigma", bad.StdErr.Trim());
    }

    [Fact]
    public void TrainsOnAnImageFolderWithClassesFromSubfolders()
    {
        using var dir = new TempDir();
        var images = Path.Combine(dir, "shapes");
        foreach (var (cls, value) in new[] { ("dark", (byte)30), ("light", (byte)220) })
        {
            Directory.CreateDirectory(Path.Combine(images, cls));
            for (int i = 0; i < 12; i++)
            {
                using var img = new Image<Rgb24>(40, 30, new Rgb24(value, value, (byte)i));
                img.SaveAsPng(Path.Combine(images, cls, $"{i:D2}.png"));
            }
        }
        var run = Path.Combine(dir, "run");
        var train = Cli.Run($"train --preset tiny --dataset folder:{images} --steps 4 --batch 8 --out {run}");
        Assert.True(train.ExitCode == 0, train.StdErr + train.StdOut);
        Assert.Contains("22 images, 28x28x1, 2 class(es)", train.StdOut);  // every 10th image is held out for testing
        using var options = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "run.json")));
        Assert.Equal(2, options.RootElement.GetProperty("model").GetProperty("numClasses").GetInt32());
        Assert.Equal($"folder:{images}", options.RootElement.GetProperty("dataset").GetString());
        var sample = Cli.Run($"sample --run {run} --class 1 --count 4 --steps 3 --out {dir}/g.png");
        Assert.True(sample.ExitCode == 0, sample.StdErr);
    }

    [Fact]
    public void AnUnconditionalRunIsSampledAndScoredOnceWhateverTheGuidance()
    {
        using var dir = new TempDir();
        var images = Path.Combine(dir, "plain");  // images at the top level, no subfolders: no classes
        Directory.CreateDirectory(images);
        for (int i = 0; i < 40; i++)
        {
            using var img = new Image<Rgb24>(32, 32, new Rgb24((byte)(10 * i), 100, 200));
            img.SaveAsPng(Path.Combine(images, $"{i:D2}.png"));
        }
        var run = Path.Combine(dir, "run");
        var train = Cli.Run($"train --preset tiny --dataset folder:{images} --steps 3 --batch 8 --out {run}");
        Assert.True(train.ExitCode == 0, train.StdErr + train.StdOut);
        Assert.Contains("1 class(es)", train.StdOut);

        var sample = Cli.Run($"sample --run {run} --count 4 --steps 2 --guidance 3 --out {dir}/g.png");
        Assert.True(sample.ExitCode == 0, sample.StdErr);
        Assert.Contains("2 steps, unconditional in", sample.StdOut);
        Assert.Contains("Unconditional run: --guidance does not apply and is ignored.", sample.StdErr);
        var badInterval = Cli.Run($"sample --run {run} --count 4 --steps 2 --guidance-interval 5,1 --out {dir}/g.png");
        Assert.Equal(2, badInterval.ExitCode);
        Assert.Equal("error: --guidance-interval takes two noise levels 'LOW,HIGH' with 0 <= LOW < HIGH, e.g. 0.28,5.42; got '5,1'.", badInterval.StdErr.Trim());

        var tooMany = Cli.Run($"eval --run {run} --metrics kid --count 8 --steps 2");  // 4 test images: refused before sampling
        Assert.Equal(2, tooMany.ExitCode);
        Assert.Contains("N must be in 2 … 4", tooMany.StdErr);
        Assert.DoesNotContain("sampling", tooMany.StdErr);

        var eval = Cli.Run($"eval --run {run} --metrics kid --count 4 --guidance 1,3,5 --steps 2");
        Assert.True(eval.ExitCode == 0, eval.StdErr + eval.StdOut);
        Assert.Contains("guidance does not apply, so --guidance 1,3,5 is scored once", eval.StdErr);
        Assert.Single(Regex.Matches(eval.StdErr, "unconditional: sampling 4 images"));
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "eval.json")));
        var result = Assert.Single(report.RootElement.GetProperty("results").EnumerateArray());
        Assert.Equal(1.0, result.GetProperty("guidance").GetDouble());
        Assert.Contains("## unconditional", File.ReadAllText(Path.Combine(run, "eval.md")));

        // The default scales are no request, so no line about them; guidance options the user wrote are named as ignored.
        var plain = Cli.Run($"eval --run {run} --metrics kid --count 4 --steps 2 --guidance-rescale 0.7");
        Assert.True(plain.ExitCode == 0, plain.StdErr + plain.StdOut);
        Assert.DoesNotContain("scored once", plain.StdErr);
        Assert.Contains("Unconditional run: --guidance-rescale does not apply and is ignored.", plain.StdErr);
        Assert.DoesNotContain("rescale", File.ReadAllText(Path.Combine(run, "eval.md")));
    }

    [Fact]
    public async Task KilledRunResumesFromItsLastCheckpoint()
    {
        using var dir = new TempDir();
        var run = Path.Combine(dir, "run");
        var ckpt = Path.Combine(run, "checkpoints", "latest", "state.json");
        // Kill -9 the process once its first checkpoint (step 20) exists, mid-way to step 60.
        var first = await Cli.RunAsync($"train --preset tiny --steps 60 --out {run}", TimeSpan.FromMinutes(30), async p =>
        {
            while (!File.Exists(ckpt) && !p.HasExited) await Task.Delay(100);
            if (!p.HasExited) p.Kill(entireProcessTree: true);
        });
        Assert.NotEqual(0, first.ExitCode);
        // A kill between the two renames of a checkpoint swap leaves only latest.old, which resume falls back to.
        var found = File.Exists(ckpt) ? ckpt : Path.Combine(run, "checkpoints", "latest.old", "state.json");
        int saved = JsonDocument.Parse(File.ReadAllText(found)).RootElement.GetProperty("step").GetInt32();
        Assert.True(saved is > 0 and < 60, $"checkpoint at step {saved}");

        var second = Cli.Run($"train --preset tiny --steps 60 --out {run}");
        Assert.True(second.ExitCode == 0, second.StdErr + second.StdOut);
        Assert.Contains($"Continuing from step {saved}", second.StdOut);
        Assert.Equal(60, JsonDocument.Parse(File.ReadAllText(ckpt)).RootElement.GetProperty("step").GetInt32());
        var steps = File.ReadAllLines(Path.Combine(run, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("step").GetInt32()).ToList();
        Assert.Equal(steps.Distinct().Count(), steps.Count); // no step logged twice after the resume
        Assert.Equal(60, steps[^1]);

        // The resumed run ends where an uninterrupted one does: weights, EMA and optimizer state byte for byte.
        var whole = Path.Combine(dir, "whole");
        var uninterrupted = Cli.Run($"train --preset tiny --steps 60 --out {whole}");
        Assert.True(uninterrupted.ExitCode == 0, uninterrupted.StdErr + uninterrupted.StdOut);
        foreach (var file in new[] { "model.safetensors", "ema.safetensors", "optimizer.safetensors" })
            Assert.True(File.ReadAllBytes(Path.Combine(run, "checkpoints", "latest", file)).AsSpan()
                    .SequenceEqual(File.ReadAllBytes(Path.Combine(whole, "checkpoints", "latest", file))),
                $"{file} of the killed and resumed run differs from the uninterrupted run's");
    }

    [Fact]
    public async Task SigtermStopsARunAfterItsCurrentStepWithACheckpoint()
    {
        using var dir = new TempDir();
        var run = Path.Combine(dir, "run");
        var metrics = Path.Combine(run, "metrics.jsonl");
        // What docker stop or systemd sends: the run should stop like Ctrl-C, not die.
        var r = await Cli.RunAsync($"train --preset tiny --steps 100000 --out {run}", TimeSpan.FromMinutes(30), async p =>
        {
            while (!File.Exists(metrics) && !p.HasExited) await Task.Delay(100);
            if (p.HasExited) return;
            using var kill = Process.Start("kill", $"-TERM {p.Id}")!;
            await kill.WaitForExitAsync();
        });
        Assert.True(r.ExitCode == 130, $"exit code {r.ExitCode}: {r.StdErr}");
        Assert.Contains("checkpoint saved", r.StdOut);
        var result = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "train-result.json"))).RootElement;
        Assert.True(result.GetProperty("cancelled").GetBoolean());
        int steps = result.GetProperty("steps").GetInt32();
        Assert.InRange(steps, 1, 99_999);
        var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "checkpoints", "latest", "state.json"))).RootElement;
        Assert.Equal(steps, state.GetProperty("step").GetInt32());
    }
}
