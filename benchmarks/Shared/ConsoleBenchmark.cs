using Diffusion.Core;

namespace Diffusion.Benchmarks;

/// <summary>
/// The shell of a results-writing console benchmark: prints the help for no arguments or --help, turns the first
/// Ctrl-C into a cancellation (the second kills the process), and reports bad input as one line.
/// Exit codes: 0 done, 2 bad input or usage, 130 cancelled.
/// </summary>
internal static class ConsoleBenchmark
{
    /// <summary>Runs <paramref name="body"/> with a cancellation token tied to Ctrl-C.</summary>
    /// <param name="args">The command line.</param>
    /// <param name="help">Printed for no arguments (exit 2) or --help / -h (exit 0).</param>
    /// <param name="body">The benchmark; progress to stderr, the result table to stdout.</param>
    /// <param name="cancelled">Printed to stderr when the run was cancelled (where the finished part is).</param>
    public static int Run(string[] args, string help, Action<CancellationToken> body, Func<string> cancelled)
    {
        if (args.Length == 0 || args.Contains("--help") || args.Contains("-h"))
        {
            Console.WriteLine(help);
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
        try
        {
            body(cts.Token);
            return 0;
        }
        catch (DiffusionException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine(cancelled());
            return 130;
        }
    }
}
