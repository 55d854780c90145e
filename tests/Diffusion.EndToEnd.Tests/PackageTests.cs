using System.Diagnostics;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Xml.Linq;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Xunit.Abstractions;

namespace Diffusion.EndToEnd.Tests;

/// <summary>The packages as a user gets them: the libraries packed into a local feed and referenced by an app outside
/// the repository, and the CLI packed and installed as a .NET tool. Every run packs under its own version, so NuGet's
/// global packages folder (shared with the machine, so TorchSharp is not restored again) never serves a stale
/// Diffusion package; the test removes that version from it afterwards.</summary>
[Trait("Category", "Slow")]
public sealed class PackageTests(ITestOutputHelper output)
{
    private static readonly string[] Libraries =
        ["Diffusion.Core", "Diffusion.Models", "Diffusion.Samplers", "Diffusion.Text", "Diffusion.Evaluation", "Diffusion.Plotting", "Diffusion.Pipelines", "Diffusion.Distributed"];

    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(20);

    [Fact]
    public async Task PackedLibrariesTrainAndGenerateInAnOutsideApp()
    {
        using var dir = new TempDir();
        string version = TestVersion(), feed = Path.Combine(dir, "feed");
        try
        {
            var clock = Stopwatch.StartNew();
            // One pack of all libraries through a solution filter; --artifacts-path keeps the repository's bin/ and obj/ untouched.
            var filter = Path.Combine(dir, "libraries.slnf");
            File.WriteAllText(filter, JsonSerializer.Serialize(new
            {
                solution = new { path = Path.Combine(Cli.RepoRoot(), "Diffusion.sln"), projects = Libraries.Select(l => $"src/{l}/{l}.csproj") },
            }));
            await Dotnet($"pack \"{filter}\" -c Release -o \"{feed}\" -p:Version={version} --artifacts-path \"{Path.Combine(dir, "artifacts")}\"", dir);
            output.WriteLine($"pack: {clock.Elapsed.TotalSeconds:F0} s");
            foreach (var library in Libraries)
            {
                var package = Path.Combine(feed, $"{library}.{version}.nupkg");
                Assert.True(File.Exists(package), $"not packed: {package}");
                using var zip = ZipFile.OpenRead(package);
                var names = zip.Entries.Select(e => e.FullName).ToHashSet();
                Assert.Contains($"lib/net10.0/{library}.dll", names);
                Assert.Contains($"lib/net10.0/{library}.xml", names);   // IntelliSense docs travel with the package
                Assert.Contains("README.md", names);
                output.WriteLine($"{library}: {new FileInfo(package).Length / 1000} KB");
            }

            var app = WriteApp(Path.Combine(dir, "app"), feed, version);
            clock.Restart();
            await Dotnet("build -c Release", app);
            output.WriteLine($"app build: {clock.Elapsed.TotalSeconds:F0} s");
            clock.Restart();
            var run = await Cli.RunProcessAsync("dotnet", Path.Combine("bin", "Release", "net10.0", "PackagedApp.dll"), app, Timeout);
            output.WriteLine($"app run: {clock.Elapsed.TotalSeconds:F0} s");
            Assert.True(run.ExitCode == 0, run.StdErr + run.StdOut);
            Assert.Contains("trained 3 steps", run.StdOut);
            Assert.Contains("generated 4 images of class 3,3,3,3 (28x28, ddim, 5 steps); 5 progress reports", run.StdOut);
            using var grid = Image.Load<L8>(Path.Combine(app, "threes.png"));
            Assert.Equal((2 * (28 + 2) + 2, 2 * (28 + 2) + 2), (grid.Width, grid.Height));   // 2 x 2 tiles, 2 px padding
        }
        finally
        {
            Forget(version, Libraries);
        }
    }

    [Fact]
    public async Task PackedCliInstallsAsADotnetToolThatLoadsTorch()
    {
        using var dir = new TempDir();
        string version = TestVersion(), feed = Path.Combine(dir, "feed"), tools = Path.Combine(dir, "tools");
        // Only this machine's platform: the other two packages take as long again and are not installed here.
        string rid = RuntimeInformation.RuntimeIdentifier;
        try
        {
            var clock = Stopwatch.StartNew();
            var project = Path.Combine(Cli.RepoRoot(), "samples", "Diffusion.Cli", "Diffusion.Cli.csproj");
            await Dotnet($"pack \"{project}\" -c Release -o \"{feed}\" -p:Version={version} -p:ToolPackageRuntimeIdentifiers={rid} " +
                $"--artifacts-path \"{Path.Combine(dir, "artifacts")}\"", dir);
            output.WriteLine($"pack: {clock.Elapsed.TotalSeconds:F0} s");
            var pointer = Path.Combine(feed, $"Diffusion.Cli.{version}.nupkg");
            var platform = Path.Combine(feed, $"Diffusion.Cli.{rid}.{version}.nupkg");
            Assert.True(File.Exists(pointer) && File.Exists(platform), string.Join(", ", Directory.GetFiles(feed)));
            using (var zip = ZipFile.OpenRead(platform))
            {
                // LibTorch and TorchSharp's native library are inside the tool package.
                Assert.Contains(zip.Entries, e => e.Name.Contains("LibTorchSharp"));
                Assert.Contains(zip.Entries, e => e.Name.Contains("torch_cpu"));
            }
            output.WriteLine($"Diffusion.Cli: {new FileInfo(pointer).Length / 1000} KB; Diffusion.Cli.{rid}: {new FileInfo(platform).Length / 1_000_000} MB");

            clock.Restart();
            await Dotnet($"tool install --tool-path \"{tools}\" --add-source \"{feed}\" Diffusion.Cli --version {version}", dir);
            output.WriteLine($"tool install: {clock.Elapsed.TotalSeconds:F0} s");
            string diffusion = Path.Combine(tools, OperatingSystem.IsWindows() ? "diffusion.exe" : "diffusion");
            var samplers = await Cli.RunProcessAsync(diffusion, "samplers", dir);
            Assert.True(samplers.ExitCode == 0, samplers.StdErr);
            Assert.Contains("dpmpp_2m", samplers.StdOut);

            var run = Path.Combine(dir, "run");
            var train = await Cli.RunProcessAsync(diffusion, $"train --preset tiny --steps 1 --out \"{run}\"", dir, Timeout);
            Assert.True(train.ExitCode == 0, train.StdErr + train.StdOut);
            Assert.True(File.Exists(Path.Combine(run, "model", "model_index.json")));
            // When the tool's own native library does not load (GLIBCXX_3.4.32 on Debian 12 / Ubuntu 22.04 without the
            // compat patch), TorchSharp quietly copies LibTorch from the NuGet cache into a cpu/ folder beside itself and
            // works only where that cache exists: a user without one gets an error.
            var fallback = Directory.GetDirectories(Path.Combine(tools, ".store"), "cpu", SearchOption.AllDirectories);
            Assert.True(fallback.Length == 0, "the installed tool could not load its own TorchSharp native library and fell back to the NuGet cache: " +
                "on Debian 12 / Ubuntu 22.04 the tool folder needs the compat patch too (README, \"Older Linux distributions\").");
        }
        finally
        {
            Forget(version, ["Diffusion.Cli", $"Diffusion.Cli.{rid}"]);
        }
    }

    /// <summary>A version no earlier run used, so the global packages folder cannot hold it yet.</summary>
    private static string TestVersion() => $"0.1.0-test-{Guid.NewGuid():N}"[..23];

    private static string WriteApp(string folder, string feed, string version)
    {
        Directory.CreateDirectory(folder);
        // Nothing from above the temp folder may leak into the build: empty Directory.Build files end MSBuild's search.
        File.WriteAllText(Path.Combine(folder, "Directory.Build.props"), "<Project />\n");
        File.WriteAllText(Path.Combine(folder, "Directory.Build.targets"), "<Project />\n");
        // The temp feed in addition to the machine's own sources (user-level NuGet.Config), which serve TorchSharp.
        File.WriteAllText(Path.Combine(folder, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="diffusion-test-feed" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(folder, "PackagedApp.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                <!-- As in the repository: hard links to the NuGet cache instead of 1 GB of copied LibTorch files. -->
                <CreateHardLinksForCopyLocalIfPossible>true</CreateHardLinksForCopyLocalIfPossible>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Diffusion.Pipelines" Version="{version}" />
                <PackageReference Include="TorchSharp-cpu" Version="{TorchSharpVersion()}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(folder, "Program.cs"), """
            // Built against the packed Diffusion packages: train the tiny preset for 3 steps, then generate four 3s.
            using Diffusion.Pipelines;
            using Diffusion.Pipelines.Training;

            var run = RunTrainer.Run(new TrainRunOptions { Preset = "tiny", Steps = 3, OutputDirectory = "run" });
            Console.WriteLine($"trained {run.Training.Steps} steps into {run.ModelDirectory}");
            using var pipe = DiffusionPipeline.Load(run.ModelDirectory, device: "cpu");
            var reports = new Counter();
            var request = new GenerationRequest { Classes = [3], Count = 4, Steps = 5, Seed = 1 };
            using var threes = await pipe.GenerateAsync(request, reports, CancellationToken.None);
            threes.SaveGrid("threes.png", columns: 2);
            var p = threes.Parameters;
            Console.WriteLine($"generated {threes.Count} images of class {string.Join(",", p.Classes ?? [])} ({p.Width}x{p.Height}, {p.Sampler}, {p.Steps} steps); {reports.Count} progress reports");

            /// <summary>Counts progress reports as they arrive (on the pipeline's thread).</summary>
            sealed class Counter : IProgress<GenerationProgress>
            {
                private int _count;
                public int Count => Volatile.Read(ref _count);
                public void Report(GenerationProgress value) => Interlocked.Increment(ref _count);
            }
            """);
        return folder;
    }

    private static string TorchSharpVersion()
        => XDocument.Load(Path.Combine(Cli.RepoRoot(), "Directory.Build.props")).Descendants("TorchSharpVersion").Single().Value;

    private async Task Dotnet(string arguments, string workingDirectory)
    {
        var r = await Cli.RunProcessAsync("dotnet", arguments, workingDirectory, Timeout);
        Assert.True(r.ExitCode == 0, $"dotnet {arguments} failed ({r.ExitCode}):\n{r.StdOut}\n{r.StdErr}");
    }

    /// <summary>Removes <paramref name="version"/> of the packages from NuGet's global packages folder.</summary>
    private static void Forget(string version, IEnumerable<string> ids)
    {
        var list = Cli.RunProcessAsync("dotnet", "nuget locals global-packages --list").GetAwaiter().GetResult();
        var folder = list.StdOut.Trim().Split(": ", 2) is [_, var path] ? path.Trim() : null;
        if (folder is null || !Directory.Exists(folder)) return;
        foreach (var id in ids)
        {
            var package = Path.Combine(folder, id.ToLowerInvariant());
            var copy = Path.Combine(package, version.ToLowerInvariant());
            if (Directory.Exists(copy)) Directory.Delete(copy, recursive: true);
            if (Directory.Exists(package) && !Directory.EnumerateFileSystemEntries(package).Any()) Directory.Delete(package);
        }
    }
}
