using System.Globalization;
using Diffusion.Benchmarks.Quality;
using Diffusion.Core;

// Sampler quality sweep: FID and class accuracy of each sampler at each NFE on a trained run, written as JSON and
// plots (see docs/samplers.md). Progress goes to stderr, the result table to stdout. Ctrl-C stops at the next sampling
// step and keeps the finished settings.
//   dotnet run -c Release --project benchmarks/Diffusion.Benchmarks.Quality -- --run runs/mnist [options]
if (args.Length == 0 || args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(SweepOptions.Help);
    return args.Length == 0 ? 2 : 0;
}

using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    if (cts.IsCancellationRequested) return; // a second Ctrl-C kills the process
    e.Cancel = true;
    Console.Error.WriteLine("\nStopping at the next sampling step (Ctrl-C again to abort) ...");
    cts.Cancel();
};

string? outDirectory = null;
try
{
    var options = SweepOptions.Parse(args);
    string stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
    string runName = Path.GetFileName(Path.GetFullPath(options.Run).TrimEnd(Path.DirectorySeparatorChar));
    outDirectory = Path.GetFullPath(options.Out ?? Path.Combine("benchmarks", "results", $"quality-{runName}-{stamp}"));
    Console.Error.WriteLine($"Sweeping {options.Run} -> {outDirectory}");
    var report = new QualitySweep(options, Console.Error.WriteLine).Run(outDirectory, cts.Token);
    Console.WriteLine(report.ToMarkdown());
    Console.WriteLine($"-> {Path.Combine(outDirectory, SweepReport.JsonFile)}, {SweepReport.FidPlotFile}, {SweepReport.AccuracyPlotFile}");
    return 0;
}
catch (DiffusionException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine($"Cancelled; the finished settings are in {outDirectory}.");
    return 130;
}
