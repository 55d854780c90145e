using System.Globalization;
using Diffusion.Core;
using Diffusion.Core.Training;
using Spectre.Console;

namespace Diffusion.Cli;

/// <summary>
/// What 'train' shows while it runs. On a terminal: Spectre.Console's live progress bar (steps, loss, throughput, time
/// left), with the run's log lines printed above it. When output is redirected (CI, tests, scripts, a log file): one plain
/// line per log line and per progress report, nothing rewritten in place. Reports arrive synchronously on the training thread.
/// </summary>
internal static class TrainingDisplay
{
    /// <summary>Runs <paramref name="train"/>, handing it the log and the progress sink, and returns its result.</summary>
    public static T Run<T>(Func<IProgress<string>, IProgress<TrainingProgress>, T> train)
    {
        if (!Live) return train(new SyncProgress<string>(Console.WriteLine), new SyncProgress<TrainingProgress>(p => Console.WriteLine(Line(p, percent: true))));

        return AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new SpinnerColumn(), new ProgressBarColumn(), new PercentageColumn(), new TaskDescriptionColumn { Alignment = Justify.Left })
            .Start(context =>
            {
                var task = context.AddTask("starting ...", maxValue: 1);
                task.IsIndeterminate = true;   // until the first report says how far the budget is
                var progress = new SyncProgress<TrainingProgress>(p =>
                {
                    task.IsIndeterminate = Fraction(p) is null;
                    task.Value = Fraction(p) ?? 0;
                    task.Description = Markup.Escape(Line(p, percent: false));   // the bar and the percentage column show the share
                });
                try
                {
                    var result = train(new SyncProgress<string>(AnsiConsole.WriteLine), progress);
                    task.StopTask();
                    return result;
                }
                catch
                {
                    context.RemoveTask(task);   // no frozen bar above the error line that follows
                    throw;
                }
            });
    }

    /// <summary>A live display needs a terminal that understands ANSI escapes; anything else gets plain lines.</summary>
    private static bool Live => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities is { Ansi: true, Interactive: true };

    /// <summary>The share of the budget (steps or minutes) done, or null when the trainer gives no estimate.</summary>
    private static double? Fraction(TrainingProgress p)
        => p.Remaining is TimeSpan r && r + p.Elapsed > TimeSpan.Zero ? Math.Clamp(p.Elapsed / (p.Elapsed + r), 0, 1) : null;

    /// <summary>"step 10/40 (25%)  loss 0.1234  512 img/s  elapsed 0:01  eta 0:03" (the share only with <paramref name="percent"/>).</summary>
    private static string Line(TrainingProgress p, bool percent)
    {
        string steps = p.MaxSteps is int max ? $"{p.Step}/{max}" : p.Step.ToString(CultureInfo.InvariantCulture);
        string done = percent && Fraction(p) is double f ? string.Create(CultureInfo.InvariantCulture, $" ({f * 100:F0}%)") : "";
        string eta = p.Remaining is TimeSpan rem ? Format(rem) : "?";
        return string.Create(CultureInfo.InvariantCulture,
            $"step {steps}{done}  loss {p.Loss:F4}  {p.ImagesPerSecond:F0} img/s  elapsed {Format(p.Elapsed)}  eta {eta}");
    }

    private static string Format(TimeSpan t) => t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : t.ToString(@"m\:ss", CultureInfo.InvariantCulture);
}
