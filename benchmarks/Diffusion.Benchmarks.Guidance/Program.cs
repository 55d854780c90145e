using System.Globalization;
using Diffusion.Benchmarks;
using Diffusion.Benchmarks.Guidance;

// Classifier-free guidance study: class accuracy, FID, precision/recall and diversity for plain guidance at several
// scales and for the interval and rescale variants, on a trained run (see docs/guidance.md). Progress goes to stderr,
// the table to stdout. Ctrl-C stops at the next sampling step and keeps the finished settings.
//   dotnet run -c Release --project benchmarks/Diffusion.Benchmarks.Guidance -- --run runs/mnist [options]
string? outDirectory = null;
return ConsoleBenchmark.Run(args, StudyOptions.Help, ct =>
{
    var options = StudyOptions.Parse(args);
    string stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
    string runName = Path.GetFileName(Path.GetFullPath(options.Run).TrimEnd(Path.DirectorySeparatorChar));
    outDirectory = Path.GetFullPath(options.Out ?? Path.Combine("benchmarks", "results", $"guidance-{runName}-{stamp}"));
    Console.Error.WriteLine($"Guidance study of {options.Run} -> {outDirectory}");
    var report = new GuidanceStudy(options, Console.Error.WriteLine).Run(outDirectory, ct);
    Console.WriteLine(report.ToMarkdown());
    Console.WriteLine($"-> {Path.Combine(outDirectory, StudyReport.MarkdownFile)}, {StudyReport.GridFile}, {StudyReport.AccuracyPlotFile}, {StudyReport.FidPlotFile}");
}, () => $"Cancelled; the finished settings are in {outDirectory}.");
