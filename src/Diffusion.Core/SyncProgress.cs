namespace Diffusion.Core;

/// <summary>An <see cref="IProgress{T}"/> that calls <paramref name="report"/> at once, on the reporting thread.
/// <see cref="Progress{T}"/> posts to the thread pool instead, which reorders log lines and lets a report outlive the
/// step it describes.</summary>
/// <typeparam name="T">What is reported.</typeparam>
public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    /// <inheritdoc />
    public void Report(T value) => report(value);
}
