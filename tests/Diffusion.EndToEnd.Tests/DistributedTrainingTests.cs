using System.Runtime.InteropServices;
using System.Text.Json;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Xunit.Abstractions;

namespace Diffusion.EndToEnd.Tests;

/// <summary>A fact that is skipped (reported as such, not passed) when MPICH's launcher or library is missing.</summary>
public sealed class MpiFactAttribute : FactAttribute
{
    public MpiFactAttribute()
    {
        if (Mpi.MissingReason() is { } reason) Skip = reason;
    }
}

/// <summary>Where MPICH is on this machine.</summary>
internal static class Mpi
{
    public const string Launcher = "mpirun.mpich";

    /// <summary>Null when <see cref="Launcher"/> is on the PATH and libmpich.so.12 loads; else why not.</summary>
    public static string? MissingReason()
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        if (!path.Any(d => File.Exists(Path.Combine(d, Launcher)))) return $"{Launcher} is not installed (apt-get install mpich).";
        if (!NativeLibrary.TryLoad("libmpich.so.12", out var handle)) return "libmpich.so.12 does not load (apt-get install mpich).";
        NativeLibrary.Free(handle);
        return null;
    }
}

/// <summary>
/// Data-parallel training through the real executable under MPICH: 2 processes with --distributed train the same weights as
/// 1 process with the same global batch (up to float summation order), and a 2-process run resumes exactly.
/// </summary>
[Trait("Category", "Slow")]
public sealed class DistributedTrainingTests(ITestOutputHelper output)
{
    private const int Steps = 8;

    /// <summary>Two classes of 20 patterned 28x28 images each, written by the test.</summary>
    private static string WriteImages(string dir)
    {
        var images = Path.Combine(dir, "shapes");
        foreach (var (cls, value) in new[] { ("dark", 40), ("light", 200) })
        {
            Directory.CreateDirectory(Path.Combine(images, cls));
            for (int i = 0; i < 20; i++)
            {
                using var img = new Image<L8>(28, 28);
                for (int y = 0; y < 28; y++)
                    for (int x = 0; x < 28; x++)
                        img[x, y] = new L8((byte)Math.Clamp(value + ((x * (i + 1) + y * 3) % 50) - 25, 0, 255));
                img.SaveAsPng(Path.Combine(images, cls, $"{i:D2}.png"));
            }
        }
        return images;
    }

    private static string TrainArguments(string images, string run, int steps)
        => $"train --preset tiny --dataset folder:{images} --steps {steps} --batch 8 --lr 0.002 --precision fp32 --seed 3 --out {run}";

    private static Cli.Result OneProcess(string images, string run, int steps)
        => Cli.Run(TrainArguments(images, run, steps) + " --threads 1", TimeSpan.FromMinutes(10));

    private static Cli.Result TwoProcesses(string images, string run, int steps)
        => Cli.RunProcessAsync(Mpi.Launcher, $"-np 2 dotnet \"{Cli.Dll}\" {TrainArguments(images, run, steps)} --distributed",
            timeout: TimeSpan.FromMinutes(10)).GetAwaiter().GetResult();

    [MpiFact]
    public void TwoProcessesTrainTheWeightsOfOneProcessWithTheSameGlobalBatch()
    {
        using var dir = new TempDir();
        var images = WriteImages(dir);
        string one = Path.Combine(dir, "one"), two = Path.Combine(dir, "two");
        var a = OneProcess(images, one, Steps);
        Assert.True(a.ExitCode == 0, a.StdErr + a.StdOut);
        var b = TwoProcesses(images, two, Steps);
        Assert.True(b.ExitCode == 0, b.StdErr + b.StdOut);
        Assert.Contains("Data-parallel training on 2 processes: batch 8 = 2 x 4.", b.StdOut);
        Assert.Single(b.StdOut.Split('\n'), l => l.StartsWith("Done:"));   // rank 1 says nothing

        double weights = MaxDifference(Weights(one, "model.safetensors"), Weights(two, "model.safetensors"));
        double ema = MaxDifference(Weights(one, "ema.safetensors"), Weights(two, "ema.safetensors"));
        output.WriteLine($"after {Steps} steps: max |w1 - w2| = {weights:E2} (weights), {ema:E2} (EMA)");
        Assert.True(weights < 1e-4, $"weights differ by {weights}");
        Assert.True(ema < 1e-4, $"EMA differs by {ema}");
        Assert.Equal(Losses(one).Length, Losses(two).Length);
        foreach (var (l1, l2) in Losses(one).Zip(Losses(two))) Assert.Equal(l1, l2, 1e-4);
    }

    [MpiFact]
    public void ATwoProcessRunResumesExactly()
    {
        using var dir = new TempDir();
        var images = WriteImages(dir);
        string straight = Path.Combine(dir, "straight"), resumed = Path.Combine(dir, "resumed");
        var a = TwoProcesses(images, straight, Steps);
        Assert.True(a.ExitCode == 0, a.StdErr + a.StdOut);
        var first = TwoProcesses(images, resumed, Steps / 2);
        Assert.True(first.ExitCode == 0, first.StdErr + first.StdOut);
        var second = TwoProcesses(images, resumed, Steps);
        Assert.True(second.ExitCode == 0, second.StdErr + second.StdOut);
        Assert.Contains($"Continuing from step {Steps / 2}.", second.StdOut);
        double weights = MaxDifference(Weights(straight, "model.safetensors"), Weights(resumed, "model.safetensors"));
        double ema = MaxDifference(Weights(straight, "ema.safetensors"), Weights(resumed, "ema.safetensors"));
        output.WriteLine($"resumed vs straight: max |w1 - w2| = {weights:E2} (weights), {ema:E2} (EMA)");
        Assert.Equal(0, weights);
        Assert.Equal(0, ema);
    }

    private static double[] Losses(string run)
        => File.ReadAllLines(Path.Combine(run, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("loss").GetDouble()).ToArray();

    /// <summary>The float32 tensors of a checkpoint file (safetensors: an 8-byte header length, a JSON header, the data).</summary>
    private static Dictionary<string, float[]> Weights(string run, string file)
    {
        var bytes = File.ReadAllBytes(Path.Combine(run, "checkpoints", "latest", file));
        long headerLength = BitConverter.ToInt64(bytes, 0);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
        var data = bytes.AsSpan(8 + (int)headerLength);
        var tensors = new Dictionary<string, float[]>();
        foreach (var entry in header.RootElement.EnumerateObject())
        {
            if (entry.Name == "__metadata__") continue;
            Assert.Equal("F32", entry.Value.GetProperty("dtype").GetString());
            var offsets = entry.Value.GetProperty("data_offsets");
            int start = (int)offsets[0].GetInt64(), end = (int)offsets[1].GetInt64();
            tensors[entry.Name] = MemoryMarshal.Cast<byte, float>(data[start..end]).ToArray();
        }
        return tensors;
    }

    private static double MaxDifference(Dictionary<string, float[]> a, Dictionary<string, float[]> b)
    {
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        Assert.NotEmpty(a);
        return a.Max(kv => kv.Value.Zip(b[kv.Key], (x, y) => (double)Math.Abs(x - y)).DefaultIfEmpty(0).Max());
    }
}
