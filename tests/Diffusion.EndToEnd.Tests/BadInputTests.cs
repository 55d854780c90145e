namespace Diffusion.EndToEnd.Tests;

/// <summary>Bad input: one line on stderr starting with "error:", exit code 2, no stack trace.</summary>
public sealed class BadInputTests
{
    [Fact]
    public void UnknownPresetListsValidOnes() => Cli.AssertOneLineError(Cli.Run("train --preset nope"), "Valid: mnist, fashion, mnist-text, fashion-text, cifar10, faces, faces32, tiny");

    [Fact]
    public void UnknownCommandListsCommands() => Cli.AssertOneLineError(Cli.Run("fly"), "Valid: train, sample, eval, report, serve, samplers, runs, train-vae");

    [Fact]
    public void UnknownOptionIsNamed() => Cli.AssertOneLineError(Cli.Run("sample --colour red"), "Unknown option '--colour'");

    [Fact]
    public void MissingRunFolderIsNamed() => Cli.AssertOneLineError(Cli.Run("sample --run /nonexistent/run"), "/nonexistent/run");

    [Fact]
    public async Task DistributedWithoutMpiSaysWhatToInstall()
    {
        using var dir = new TempDir();
        // DIFFUSION_MPI_LIBRARY names the only MPI library to try: a missing one stands for a machine without MPICH.
        var r = await Cli.RunProcessAsync("dotnet", $"\"{Cli.Dll}\" train --preset tiny --steps 1 --out {Path.Combine(dir, "run")} --distributed",
            environment: new Dictionary<string, string?> { ["DIFFUSION_MPI_LIBRARY"] = Path.Combine(dir, "libmpich.so.12") });
        Cli.AssertOneLineError(r, "apt-get install mpich");
        Assert.False(Directory.Exists(Path.Combine(dir, "run")));
    }

    [Fact]
    public void MissingDatasetNamesTheFiles()
    {
        using var empty = new TempDir();
        var r = Cli.Run($"train --preset tiny --steps 1 --out {Path.Combine(empty, "run")} --data-dir {empty}");
        Cli.AssertOneLineError(r, "train-images-idx3-ubyte");
    }

    [Fact]
    public void MissingCifarAndFacesNameWhereTheyWereLookedFor()
    {
        using var empty = new TempDir();
        Cli.AssertOneLineError(Cli.Run($"train --preset cifar10 --steps 1 --out {Path.Combine(empty, "c")} --data-dir {empty}"), "data_batch_1");
        Cli.AssertOneLineError(Cli.Run($"train --preset faces --steps 1 --out {Path.Combine(empty, "f")} --data-dir {empty}"), Path.Combine(empty, "celeba-10k"));
        Cli.AssertOneLineError(Cli.Run($"train --preset tiny --dataset folder:{empty}/none --steps 1 --out {Path.Combine(empty, "n")}"), "does not exist");
    }

    [Fact]
    public void ReportOfAnUnevaluatedRunSaysWhatToRun()
    {
        using var dir = new TempDir();
        File.WriteAllText(Path.Combine(dir, "run.json"), """{"preset":"tiny","dataset":"mnist","model":{},"schedule":{},"training":{}}""");
        Cli.AssertOneLineError(Cli.Run($"report --runs {dir} --out {dir}/page.md"), "diffusion eval --run");
    }

    [Fact]
    public void UnknownScheduleOrPredictionAndAChangeOnResumeAreRefused()
    {
        Cli.AssertOneLineError(Cli.Run("train --preset tiny --schedule quadratic"), "Valid: linear, cosine, sigmoid");
        using var dir = new TempDir();
        File.WriteAllText(Path.Combine(dir, "run.json"), """{"preset":"tiny","dataset":"mnist","model":{},"schedule":{"kind":"Linear"},"training":{}}""");
        Cli.AssertOneLineError(Cli.Run($"train --preset tiny --schedule cosine --out {dir}"), "trained with the linear schedule");
        Cli.AssertOneLineError(Cli.Run("train --preset tiny --prediction noise"), "Valid: eps, v, x0");
        Cli.AssertOneLineError(Cli.Run($"train --preset tiny --prediction v --out {dir}"), "trained to predict eps");
    }

    [Fact]
    public void TruncatedIdxFileIsNamed()
    {
        using var dir = new TempDir();
        var mnist = Path.Combine(dir, "mnist");
        Directory.CreateDirectory(mnist);
        foreach (var f in Directory.GetFiles(Path.Combine(Cli.DataDir(), "mnist")))
            File.Copy(f, Path.Combine(mnist, Path.GetFileName(f)));
        var victim = Path.Combine(mnist, "train-images-idx3-ubyte.gz");
        var bytes = File.ReadAllBytes(victim);
        File.WriteAllBytes(victim, bytes[..(bytes.Length / 2)]);
        var r = Cli.Run($"train --preset tiny --steps 1 --out {Path.Combine(dir, "run")} --data-dir {dir}");
        Cli.AssertOneLineError(r, "train-images-idx3-ubyte");
    }

    [Fact]
    public void HelpShowsDefaults()
    {
        var r = Cli.Run("sample --help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("--guidance", r.StdOut);
        Assert.Contains("[default: 3]", r.StdOut);
        Assert.Contains("[default: ddim]", r.StdOut);
    }

    [Fact]
    public void SamplersCommandListsAll()
    {
        var r = Cli.Run("samplers");
        Assert.Equal(0, r.ExitCode);
        foreach (var name in new[] { "ddpm", "ddim", "euler", "euler_a", "heun", "dpmpp_2m", "dpmpp_3m", "unipc" })
            Assert.Contains(name + " ", r.StdOut);
    }
}
