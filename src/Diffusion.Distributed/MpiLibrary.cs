using System.Reflection;
using System.Runtime.InteropServices;

namespace Diffusion.Distributed;

/// <summary>
/// Finds the MPI library that MPI.NET calls. MPI.NET P/Invokes "msmpi" (Microsoft MPI, Windows). MS-MPI is derived from
/// MPICH and keeps its ABI (integer handles, the same constants), so on Linux the same calls work against MPICH's
/// <c>libmpich.so.12</c> (Debian/Ubuntu package <c>mpich</c>) or another library of the MPICH ABI (Intel MPI, MVAPICH,
/// Cray MPICH: <c>libmpi.so.12</c>). Open MPI has another ABI and does not work. The variable <c>DIFFUSION_MPI_LIBRARY</c>
/// names the one library file to use instead.
/// </summary>
public static class MpiLibrary
{
    /// <summary>The variable that overrides the library's file name or path.</summary>
    public const string Variable = "DIFFUSION_MPI_LIBRARY";

    /// <summary>What to do when no library is found, in one line.</summary>
    public static string InstallHint => OperatingSystem.IsWindows()
        ? "install Microsoft MPI (msmpisetup.exe) and launch with 'mpiexec -n P diffusion train ... --distributed'"
        : "install MPICH ('apt-get install mpich' on Debian/Ubuntu, 'dnf install mpich' on Fedora) and launch with 'mpirun.mpich -np P diffusion train ... --distributed'";

    private static readonly object Gate = new();
    private static bool _registered;
    private static IntPtr _handle;
    private static string? _loadedFrom;

    /// <summary>The file names tried, in order.</summary>
    public static IReadOnlyList<string> Candidates
    {
        get
        {
            var list = new List<string>();
            if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } custom) list.Add(custom);
            else if (OperatingSystem.IsWindows()) list.Add("msmpi.dll");
            else if (OperatingSystem.IsMacOS()) list.AddRange(["libmpich.12.dylib", "libmpi.12.dylib"]);
            else list.AddRange(["libmpich.so.12", "libmpi.so.12"]);
            return list;
        }
    }

    /// <summary>Loads the library and points MPI.NET's "msmpi" imports at it; returns where it came from, or null with
    /// <paramref name="reason"/> saying what is missing. Safe to call more than once.</summary>
    public static string? TryLoad(out string reason)
    {
        lock (Gate)
        {
            reason = "";
            if (_loadedFrom is not null) return _loadedFrom;
            foreach (var name in Candidates)
                if (NativeLibrary.TryLoad(name, out _handle)) { _loadedFrom = name; break; }
            if (_loadedFrom is null)
            {
                reason = $"no MPI library of the MPICH ABI was found (tried {string.Join(", ", Candidates)})";
                return null;
            }
            if (!_registered)
            {
                NativeLibrary.SetDllImportResolver(typeof(MPI.Communicator).Assembly, Resolve);
                _registered = true;
            }
            return _loadedFrom;
        }
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
        => name.StartsWith("msmpi", StringComparison.OrdinalIgnoreCase) && _handle != IntPtr.Zero ? _handle : IntPtr.Zero;
}
