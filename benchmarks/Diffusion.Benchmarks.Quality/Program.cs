using System.Globalization;
using Diffusion.Benchmarks;
using Diffusion.Benchmarks.Quality;

// Sampler quality sweep: FID and class accuracy of each sampler at each NFE on a trained run, written as JSON and
// plots (see docs/samplers.md). Progress goes to stderr, the result table to stdout. Ctrl-C stops at the next sampling
// step and keeps the finished settings.
//   dotnet run -c Release --project benchmarks/Diffusion.Benchmarks.Quality -- --run runs/mnist [options]
string? outDirectory = null;
return ConsoleBenchmark.Run(args, SweepOptions.Help, ct =>
{
    var options = SweepOptions.Parse(args);
    string stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
    string runName = Path.GetFileName(Path.GetFullPath(options.Run).TrimEnd(Path.DirectorySeparatorChar));
    outDirectory = Path.GetFullPath(options.Out ?? Path.Combine("benchmarks", "results", $"quality-{runName}-{stamp}"));
    Console.Error.WriteLine($"Sweeping {options.Run} -> {outDirectory}");
    var report = new QualitySweep(options, Console.Error.WriteLine).Run(outDirectory, ct);
    Console.WriteLine(report.ToMarkdown());
    Console.WriteLine($"-> {Path.Combine(outDirectory, SweepReport.JsonFile)}, {SweepReport.FidPlotFile}, {SweepReport.AccuracyPlotFile}");
}, () => $"Cancelled; the finished settings are in {outDirectory}.");
