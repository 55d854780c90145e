using System.Runtime.InteropServices;
using Diffusion.Cli;
using Diffusion.Core;

// diffusion: train, sample and evaluate diffusion models from the command line.
// Bad input prints one line and exits 2; a TorchSharp native library that cannot load prints one line and exits 1;
// Ctrl-C stops at the next step, saves, and exits 130.
var commands = new Dictionary<string, (string Help, OptionSpec[] Options, Func<Args, CancellationToken, int> Run)>
{
    ["train"] = ("Train a model from a preset; writes run.json, checkpoints, metrics, sample grids and a loss curve into --out.", Commands.TrainOptions, Commands.Train),
    ["sample"] = ("Draw images from a trained run into a PNG grid (and optionally a GIF and single PNGs).", Commands.SampleOptions, Commands.Sample),
    ["eval"] = ("Sample from a run and measure class accuracy, FID, KID, IS and precision/recall (with real-vs-real floors); writes eval.json and eval.md.", Commands.EvalOptions, Commands.Eval),
    ["report"] = ("Write one Markdown page comparing evaluated runs: a metrics row (with floors) and a sample grid per run.", Commands.ReportOptions, Commands.Report),
    ["samplers"] = ("List the samplers with one line each.", Array.Empty<OptionSpec>(), (_, _) => Commands.ListSamplers()),
};

if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
{
    Console.WriteLine("Usage: diffusion <command> [options]\n\nCommands:");
    foreach (var (name, c) in commands) Console.WriteLine($"  {name,-10}{c.Help}");
    Console.WriteLine("\nRun 'diffusion <command> --help' for a command's options.");
    return args.Length == 0 ? 2 : 0;
}
if (!commands.TryGetValue(args[0], out var command))
{
    Console.Error.WriteLine($"error: unknown command '{args[0]}'. Valid: {string.Join(", ", commands.Keys)}.");
    return 2;
}
if (args.Skip(1).Any(a => a is "--help" or "-h"))
{
    Console.WriteLine(command.Options.Length == 0 ? $"Usage: diffusion {args[0]}\n\n{command.Help}" : Args.Help(args[0], command.Help, command.Options));
    return 0;
}

using var cts = new CancellationTokenSource();
// Ctrl-C and SIGTERM (kill, docker stop, systemd) both stop after the current step, so a stopped run still saves its
// checkpoint or partial report; a second signal terminates the process.
PosixSignalRegistration StopOn(PosixSignal signal, string again) => PosixSignalRegistration.Create(signal, context =>
{
    if (cts.IsCancellationRequested) return;
    context.Cancel = true;
    Console.Error.WriteLine($"\nStopping after the current step ({again} again to abort) ...");
    cts.Cancel();
});
using var sigint = StopOn(PosixSignal.SIGINT, "Ctrl-C");
using var sigterm = StopOn(PosixSignal.SIGTERM, "SIGTERM");
try
{
    var parsed = Args.Parse(args[0], args.Skip(1).ToArray(), command.Options);
    // Every command but 'samplers' needs libtorch: check that its native library loads (one line instead of TorchSharp's trace).
    if (args[0] != "samplers" && NativeCheck.LoadError() is { } reason)
    {
        Console.Error.WriteLine($"error: TorchSharp's native library could not be loaded ({reason}); run 'bash scripts/torchsharp-compat.sh' (see README, \"Older Linux distributions\").");
        return 1;
    }
    return command.Run(parsed, cts.Token);
}
catch (DiffusionException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine("error: cancelled.");
    return 130;
}
catch (IOException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
catch (UnauthorizedAccessException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
