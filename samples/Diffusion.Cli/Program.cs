// diffusion: train, sample and evaluate diffusion models from the command line.
// Libraries: System.CommandLine parses (typed options, defaults in --help, validation, tab completion via [suggest]) and
// Spectre.Console draws the live training progress: both maintained and widely used, so this CLI keeps only its own logic.
// Bad input prints one line and exits 2; a TorchSharp native library that cannot load prints one line and exits 1;
// Ctrl-C stops at the next step, saves, and exits 130.
using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Runtime.InteropServices;
using Diffusion.Cli;
using Diffusion.Core;

// Model folders and --text-encoder may name the pretrained MiniLM encoder, which lives in its own package (ONNX Runtime).
Diffusion.Text.MiniLM.MiniLm.Register();

using var cts = new CancellationTokenSource();
var root = Commands.Root(cts.Token);
// Plain 'diffusion' lists the commands (and exits 2: nothing was done); 'diffusion help [command]' is '--help'.
if (args.Length == 0)
{
    root.Parse(["--help"]).Invoke();
    return 2;
}
var parse = root.Parse(args[0] == "help" ? [.. args.Skip(1), "--help"] : args);
if (parse.Action is ParseErrorAction)
{
    Console.Error.WriteLine($"error: {ParseError(parse)}");
    return 2;
}

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
    // Every command but 'samplers' and 'runs' needs libtorch: check that its native library loads (one line instead of
    // TorchSharp's trace). Help, --version and completion run without it.
    var command = parse.CommandResult.Command;
    if (parse.Action == command.Action && command.Name is not ("samplers" or "runs") && NativeCheck.LoadError() is { } reason)
    {
        Console.Error.WriteLine($"error: TorchSharp's native library could not be loaded ({reason}); run 'bash scripts/torchsharp-compat.sh' (see README, \"Older Linux distributions\").");
        return 1;
    }
    // Exceptions reach the handlers below; the signals above, not System.CommandLine's, decide how a run stops.
    return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
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

// The first thing wrong with the command line, in one line. A word the parser matched to nothing is named with what would
// have been valid (System.CommandLine says "Unrecognized command or argument"); otherwise the parser's first error, which
// for a bad value is the option's own message ("--count must be a whole number, got 'abc'.").
static string ParseError(ParseResult parse)
{
    var command = parse.CommandResult.Command;
    if (parse.UnmatchedTokens is [var word, ..])
    {
        if (command is RootCommand)
            return $"Unknown {(word.StartsWith('-') ? "option" : "command")} '{word}'. Valid: {string.Join(", ", command.Subcommands.Select(c => c.Name))}.";
        return word.StartsWith('-')
            ? $"Unknown option '{word}' for '{command.Name}'. Valid: {string.Join(", ", command.Options.Where(o => !o.Hidden).Select(o => o.Name))}."
            : $"Unexpected argument '{word}' for '{command.Name}'; options start with --. See 'diffusion {command.Name} --help'.";
    }
    // Errors about what the user wrote ("--count abc") before those about what is missing ("--run is required").
    var first = parse.Errors.OrderBy(e => e.SymbolResult is OptionResult { Implicit: false, IdentifierToken: not null } ? 0 : 1).FirstOrDefault();
    var message = first?.Message ?? "invalid command line.";
    return string.Join(' ', message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
