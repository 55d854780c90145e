using Diffusion.Core;
using Diffusion.Core.Training;
using TorchSharp;
using static TorchSharp.torch;
using Raw = MPI.Unsafe;

namespace Diffusion.Distributed;

/// <summary>
/// <see cref="IProcessGroup"/> over MPI's world communicator: one process per rank, started by <c>mpirun</c>
/// (<c>mpirun.mpich -np 2 dotnet diffusion.dll train ... --distributed</c>), on one machine or several. MPI.NET sets MPI
/// up and tears it down; the collectives pass tensor memory to <c>MPI_Allreduce</c> and <c>MPI_Bcast</c> by pointer, so a
/// gradient of N floats costs one copy of N floats (the send buffer) and no managed arrays. Tensors on a GPU go through
/// host memory. Create one per process, before training, and dispose it at the end (MPI cannot start again afterwards).
/// </summary>
public sealed class MpiProcessGroup : IProcessGroup, IDisposable
{
    // MPI counts are ints; chunks of 2^28 elements (1 GiB of float32) also keep every span of bytes under int.MaxValue.
    private const long Chunk = 1L << 28;

    private readonly MPI.Environment _environment;
    private bool _disposed;

    private MpiProcessGroup(MPI.Environment environment, string library)
    {
        _environment = environment;
        Library = library;
        Rank = MPI.Communicator.world.Rank;
        Size = MPI.Communicator.world.Size;
    }

    /// <summary>True when an MPI library can be loaded; otherwise <paramref name="reason"/> says what to install.</summary>
    public static bool IsAvailable(out string reason)
    {
        if (MpiLibrary.TryLoad(out var why) is not null) { reason = ""; return true; }
        reason = $"{why}; {MpiLibrary.InstallHint}";
        return false;
    }

    /// <summary>Starts MPI (<c>MPI_Init_thread</c>) and joins the world communicator. A process started without
    /// <c>mpirun</c> is a group of one.</summary>
    /// <exception cref="DiffusionException">No MPI library can be loaded (the message says what to install), or MPI fails to start.</exception>
    public static MpiProcessGroup Start()
    {
        var library = MpiLibrary.TryLoad(out var why)
            ?? throw new DiffusionException($"Distributed training needs MPI: {why}; {MpiLibrary.InstallHint}.");
        try
        {
            var args = Array.Empty<string>();
            // Serialized: only one thread calls MPI at a time (the training thread), which need not be the main one.
            var environment = new MPI.Environment(ref args, MPI.Threading.Serialized);
            return new MpiProcessGroup(environment, library);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or TypeInitializationException or BadImageFormatException)
        {
            throw new DiffusionException($"MPI did not start with {library} ({e.Message}); it must be an MPICH-ABI library (MPICH, Intel MPI, MVAPICH), not Open MPI.");
        }
    }

    /// <summary>The MPI library in use (file name or path).</summary>
    public string Library { get; }

    /// <inheritdoc />
    public int Rank { get; }

    /// <inheritdoc />
    public int Size { get; }

    /// <inheritdoc />
    public void AllReduceMean(Tensor buffer)
    {
        ProcessGroups.CheckReduceBuffer(buffer);
        ThrowIfDisposed();
        if (Size == 1) return;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var host = OnHost(buffer);
        for (long start = 0; start < host.numel(); start += Chunk)
        {
            var part = host.narrow(0, start, Math.Min(Chunk, host.numel() - start));
            var send = part.clone();
            unsafe
            {
                fixed (byte* s = send.bytes, r = part.bytes)
                    Check(Raw.MPI_Allreduce((IntPtr)s, (IntPtr)r, (int)part.numel(), Raw.MPI_FLOAT, Raw.MPI_SUM, Raw.MPI_COMM_WORLD), "MPI_Allreduce");
            }
        }
        host.div_(Size);
        if (!ReferenceEquals(host, buffer)) buffer.copy_(host);
    }

    /// <inheritdoc />
    public void Broadcast(Tensor buffer, int root = 0)
    {
        ProcessGroups.CheckBroadcastBuffer(buffer, root, Size);
        ThrowIfDisposed();
        if (Size == 1) return;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var host = OnHost(buffer);
        int type = buffer.dtype switch
        {
            ScalarType.Float32 => Raw.MPI_FLOAT,
            ScalarType.Float64 => Raw.MPI_DOUBLE,
            ScalarType.Int64 => Raw.MPI_LONG_LONG,
            _ => Raw.MPI_BYTE,
        };
        for (long start = 0; start < host.numel(); start += Chunk)
        {
            var part = host.narrow(0, start, Math.Min(Chunk, host.numel() - start));
            unsafe
            {
                fixed (byte* p = part.bytes)
                    Check(Raw.MPI_Bcast((IntPtr)p, (int)part.numel(), type, root, Raw.MPI_COMM_WORLD), "MPI_Bcast");
            }
        }
        if (!ReferenceEquals(host, buffer)) buffer.copy_(host);
    }

    /// <inheritdoc />
    public bool Any(bool flag)
    {
        ThrowIfDisposed();
        if (Size == 1) return flag;
        int value = flag ? 1 : 0, result = 0;
        unsafe { Check(Raw.MPI_Allreduce((IntPtr)(&value), (IntPtr)(&result), 1, Raw.MPI_INT, Raw.MPI_LOR, Raw.MPI_COMM_WORLD), "MPI_Allreduce"); }
        return result != 0;
    }

    /// <inheritdoc />
    public void Barrier()
    {
        ThrowIfDisposed();
        Check(Raw.MPI_Barrier(Raw.MPI_COMM_WORLD), "MPI_Barrier");
    }

    /// <summary>Ends every process of the job (<c>MPI_Abort</c>) with <paramref name="errorCode"/>: what a process that
    /// fails must do, since the others would wait in their next collective (and <c>MPI_Finalize</c> for them) forever.
    /// Does not return.</summary>
    public void Abort(int errorCode)
    {
        _disposed = true;
        Console.Out.Flush();
        Console.Error.Flush();
        Raw.MPI_Abort(Raw.MPI_COMM_WORLD, errorCode);
        Environment.Exit(errorCode); // MPI_Abort does not return; this is for an MPI that does
    }

    /// <summary>Finalizes MPI (<c>MPI_Finalize</c>).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _environment.Dispose();
    }

    /// <summary>The buffer itself when MPI can read its memory (contiguous, on the CPU), else a contiguous host copy.</summary>
    private static Tensor OnHost(Tensor buffer)
        => buffer.device_type == DeviceType.CPU && buffer.is_contiguous() ? buffer : buffer.cpu().contiguous();

    private static void Check(int code, string call)
    {
        if (code != 0) throw new DiffusionException($"{call} failed with MPI error code {code}.");
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
