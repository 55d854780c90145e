namespace Diffusion.Benchmarks;

/// <summary>Reports synchronously, on the reporting thread (<see cref="Progress{T}"/> posts to the thread pool, which
/// reorders log lines).</summary>
internal sealed class LogProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
