using Diffusion.Core;
using Diffusion.Distributed;

namespace Diffusion.Cli;

/// <summary>
/// 'train --distributed': one process of an MPI job (<c>mpirun.mpich -np P dotnet diffusion.dll train ... --distributed</c>).
/// MPI is optional: without it the flag fails with one line saying what to install, and training without the flag never
/// loads it.
/// </summary>
internal static class DistributedTraining
{
    /// <summary>Joins the MPI job this process was started in (a job of one without mpirun).</summary>
    /// <exception cref="DiffusionException">No MPI library is installed; the message says which package to install.</exception>
    public static MpiProcessGroup Start()
    {
        if (!MpiProcessGroup.IsAvailable(out var reason)) throw new DiffusionException($"--distributed needs MPI: {reason}.");
        var group = MpiProcessGroup.Start();
        if (group.Size == 1)
            Console.Error.WriteLine("--distributed: this is a job of one process; start P of them with 'mpirun.mpich -np P dotnet diffusion.dll train ... --distributed'.");
        return group;
    }

    /// <summary>Runs one process's part of the job; if it fails, prints the error (one line for bad input, as everywhere
    /// in the CLI) and ends the whole job, since the other processes would otherwise wait for this one forever.</summary>
    public static T Run<T>(MpiProcessGroup group, Func<T> train)
    {
        if (group.Size == 1) return train();
        try
        {
            return train();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            bool input = e is DiffusionException or IOException or UnauthorizedAccessException;
            Console.Error.WriteLine($"error: {(input ? e.Message : e.ToString())} (rank {group.Rank} of {group.Size}; ending the MPI job)");
            group.Abort(input ? 2 : 1);
            throw;
        }
    }

    /// <summary>One GPU per process: "cuda" (or "auto" where CUDA is present) becomes cuda:N for the N-th rank on this
    /// machine (MPI_LOCALRANKID, modulo the GPUs there); an explicit "cuda:N" or "cpu" stays.</summary>
    public static string Device(string requested)
    {
        bool cuda = requested.Equals("cuda", StringComparison.OrdinalIgnoreCase)
            || (requested.Equals("auto", StringComparison.OrdinalIgnoreCase) && TorchSharp.torch.cuda.is_available());
        if (!cuda) return requested;
        int local = int.TryParse(Environment.GetEnvironmentVariable("MPI_LOCALRANKID"), out var r) && r >= 0 ? r : 0;
        return $"cuda:{local % Math.Max(1, TorchSharp.torch.cuda.device_count())}";
    }

    /// <summary>CPU threads per process when --threads is not given: the machine's cores shared by the ranks on it
    /// (MPICH's launcher says how many in MPI_LOCALNRANKS), so P processes on one machine do not oversubscribe it.</summary>
    public static int DefaultThreads()
    {
        int local = int.TryParse(Environment.GetEnvironmentVariable("MPI_LOCALNRANKS"), out var n) && n > 0 ? n : 1;
        return Math.Max(1, Environment.ProcessorCount / local);
    }
}
