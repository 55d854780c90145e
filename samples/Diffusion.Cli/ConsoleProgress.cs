using System.Globalization;
using Diffusion.Core.Training;

namespace Diffusion.Cli;

/// <summary>A one-line progress bar on a terminal (rewritten in place), plain lines when output is redirected.
/// Reports arrive synchronously on the training thread.</summary>
internal sealed class ConsoleProgress : IProgress<TrainingProgress>
{
    private readonly bool _tty = !Console.IsOutputRedirected;

    public void Report(TrainingProgress p)
    {
        double fraction = p.Remaining is TimeSpan r && r + p.Elapsed > TimeSpan.Zero
            ? p.Elapsed / (p.Elapsed + r) : 0;
        int filled = (int)Math.Round(Math.Clamp(fraction, 0, 1) * 24);
        string bar = new string('#', filled) + new string('-', 24 - filled);
        string steps = p.MaxSteps is int max ? $"{p.Step}/{max}" : p.Step.ToString(CultureInfo.InvariantCulture);
        string eta = p.Remaining is TimeSpan rem ? Format(rem) : "?";
        string line = string.Create(CultureInfo.InvariantCulture,
            $"[{bar}] step {steps}  loss {p.Loss:F4}  {p.ImagesPerSecond:F0} img/s  elapsed {Format(p.Elapsed)}  eta {eta}");
        if (_tty) Console.Write("\r" + line.PadRight(Console.WindowWidth > 0 ? Math.Min(Console.WindowWidth - 1, 120) : 100));
        else Console.WriteLine(line);
    }

    public void Finish() { if (_tty) Console.WriteLine(); }

    private static string Format(TimeSpan t) => t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : t.ToString(@"m\:ss", CultureInfo.InvariantCulture);
}
