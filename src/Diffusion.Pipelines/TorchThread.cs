using System.Collections.Concurrent;

namespace Diffusion.Pipelines;

/// <summary>
/// One dedicated thread that runs every torch call of a pipeline, one job at a time, in arrival order. TorchSharp's
/// dispose scopes and grad mode are thread-local, so callers on any thread (and many at once) hand their work here
/// instead of touching the model themselves.
/// </summary>
internal sealed class TorchThread : IDisposable
{
    private readonly BlockingCollection<Action> _jobs = new();
    private readonly Thread _thread;

    public TorchThread(string name)
    {
        _thread = new Thread(Loop) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>True when called from the torch thread itself.</summary>
    public bool IsCurrent => Thread.CurrentThread == _thread;

    /// <summary>Queues <paramref name="work"/>; the task completes with its result or exception. A token cancelled
    /// before the job starts cancels it without running it; once started, <paramref name="work"/> checks it itself.</summary>
    public Task<T> Run<T>(Func<T> work, CancellationToken cancellationToken = default)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (IsCurrent)
        {
            // Re-entrant call (e.g. from a progress callback that runs synchronously): run inline, queueing would deadlock.
            try { done.SetResult(work()); }
            catch (Exception e) { done.SetException(e); }
            return done.Task;
        }
        void Job()
        {
            if (cancellationToken.IsCancellationRequested) { done.TrySetCanceled(cancellationToken); return; }
            try { done.TrySetResult(work()); }
            catch (OperationCanceledException e) { done.TrySetCanceled(e.CancellationToken.IsCancellationRequested ? e.CancellationToken : cancellationToken); }
            catch (Exception e) { done.TrySetException(e); }
        }
        try { _jobs.Add(Job, CancellationToken.None); }
        catch (InvalidOperationException) { throw new ObjectDisposedException(nameof(DiffusionPipeline)); }
        return done.Task;
    }

    /// <summary>Runs <paramref name="work"/> on the torch thread and waits for it.</summary>
    public T Invoke<T>(Func<T> work) => Run(work).GetAwaiter().GetResult();

    private void Loop()
    {
        foreach (var job in _jobs.GetConsumingEnumerable()) job();
    }

    /// <summary>Lets queued jobs finish, then ends the thread.</summary>
    public void Dispose()
    {
        if (_jobs.IsAddingCompleted) return;
        _jobs.CompleteAdding();
        if (!IsCurrent) _thread.Join();
        _jobs.Dispose();
    }
}
