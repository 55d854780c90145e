using System.Globalization;
using Diffusion.Benchmarks.Guidance;
using Diffusion.Core;

// Classifier-free guidance study: class accuracy, FID, precision/recall and diversity for plain guidance at several
// scales and for the interval and rescale variants, on a trained run (see docs/guidance.md). Progress goes to stderr,
// the table to stdout. Ctrl-C stops at the next sampling step and keeps the finished settings.
//   dotnet run -c Release --project benchmarks/Diffusion.Benchmarks.Guidance -- --run runs/mnist [options]
if (args.Length == 0 || args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(StudyOptions.Help);
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
    var options = StudyOptions.Parse(args);
    string stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
    string runName = Path.GetFileName(Path.GetFullPath(options.Run).TrimEnd(Path.DirectorySeparatorChar));
    outDirectory = Path.GetFullPath(options.Out ?? Path.Combine("benchmarks", "results", $"guidance-{runName}-{stamp}"));
    Console.Error.WriteLine($"Guidance study of {options.Run} -> {outDirectory}");
    var report = new GuidanceStudy(options, Console.Error.WriteLine).Run(outDirectory, cts.Token);
    Console.WriteLine(report.ToMarkdown());
    Console.WriteLine($"-> {Path.Combine(outDirectory, StudyReport.MarkdownFile)}, {StudyReport.GridFile}, {StudyReport.AccuracyPlotFile}, {StudyReport.FidPlotFile}");
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
