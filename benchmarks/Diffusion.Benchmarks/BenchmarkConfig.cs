using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Diffusion.Benchmarks;

/// <summary>The one configuration every benchmark uses: in-process (LibTorch's native files are in this build's
/// output, not in a generated project's), a short job, the memory diagnoser and JSON export.
/// With --dry, a Job.Dry run of everything as a smoke test.</summary>
internal static class BenchmarkConfig
{
    public static IConfig Create(bool dry)
    {
        var job = (dry ? Job.Dry : Job.ShortRun.WithWarmupCount(1).WithIterationCount(3)).WithToolchain(InProcessEmitToolchain.Instance);
        return ManualConfig.CreateEmpty()
            .AddJob(job)
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddExporter(JsonExporter.Full)
            .AddLogger(BenchmarkDotNet.Loggers.ConsoleLogger.Default)
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .WithOptions(ConfigOptions.DisableOptimizationsValidator);
    }
}
