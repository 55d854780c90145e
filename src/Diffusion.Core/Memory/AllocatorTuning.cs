using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Diffusion.Core.Memory;

/// <summary>What <see cref="AllocatorTuning"/> did in this process.</summary>
public enum AllocatorTuningState
{
    /// <summary>glibc's malloc was tuned: large blocks are kept and reused instead of mapped and unmapped per allocation.</summary>
    Applied,

    /// <summary>The tuning was turned off (<see cref="AllocatorTuning.EnvironmentVariable"/> = <c>default</c>, or the
    /// AppContext switch <see cref="AllocatorTuning.DisableSwitch"/>); glibc's defaults are in force.</summary>
    Disabled,

    /// <summary>The C library is not glibc (Windows, macOS, musl): nothing to tune, nothing was changed.</summary>
    NotGlibc,

    /// <summary>glibc refused a setting (its <c>mallopt</c> returned 0); the defaults may be partly in force.</summary>
    Refused,
}

/// <summary>
/// Keeps glibc's malloc from returning large tensors to the kernel on every free. libtorch allocates each
/// activation and gradient with <c>posix_memalign</c>; by default glibc serves blocks above its mmap threshold
/// (128 KiB, raised dynamically up to 32 MiB) with a fresh <c>mmap</c> and unmaps them on free, and trims the heap top
/// above 128 KiB, so every training step pays page faults and the kernel zeroing the same pages again: up to 2.4× the
/// wall time on the MNIST preset (issue 16, docs/performance.md). The tuning raises the mmap threshold and the
/// trim threshold (<c>mallopt(M_MMAP_THRESHOLD)</c>, <c>mallopt(M_TRIM_THRESHOLD)</c>), the in-process equivalent of
/// <c>MALLOC_MMAP_THRESHOLD_</c> / <c>MALLOC_TRIM_THRESHOLD_</c>; freed memory then stays in the process for the next
/// step, which is what a caching allocator does.
/// <para>
/// Applied once, when <c>Diffusion.Core</c> is loaded (a module initializer), so every user of the SDK gets it without
/// an environment variable. Turn it off with the environment variable <c>DIFFUSION_ALLOCATOR=default</c> or the
/// AppContext switch <c>Diffusion.Allocator.UseDefaults</c> (e.g. <c>&lt;RuntimeHostConfigurationOption
/// Include="Diffusion.Allocator.UseDefaults" Value="true" /&gt;</c> in the application's project). Harmless where the C
/// library is not glibc: nothing is called.
/// </para>
/// </summary>
public static class AllocatorTuning
{
    /// <summary>The environment variable that turns the tuning off when it is <c>default</c> (or <c>off</c>, <c>0</c>).</summary>
    public const string EnvironmentVariable = "DIFFUSION_ALLOCATOR";

    /// <summary>The AppContext switch that turns the tuning off when set to true.</summary>
    public const string DisableSwitch = "Diffusion.Allocator.UseDefaults";

    /// <summary>Blocks up to this size (1 GiB) come from the heap instead of their own mapping. glibc's own cap for
    /// the environment variable is <c>int.MaxValue</c> through <c>mallopt</c>.</summary>
    public const int MmapThresholdBytes = 1 << 30;

    /// <summary>Free memory at the heap top up to this size (1 GiB) is kept for reuse instead of returned to the kernel.</summary>
    public const int TrimThresholdBytes = 1 << 30;

    // glibc's mallopt parameter numbers (malloc.h).
    private const int M_TRIM_THRESHOLD = -1;
    private const int M_MMAP_THRESHOLD = -3;

    private static readonly Lazy<AllocatorTuningState> Once = new(ApplyNow, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>What the tuning did in this process (applies it first if it has not run yet).</summary>
    public static AllocatorTuningState State => Once.Value;

    /// <summary>Applies the tuning if it has not been applied in this process; later calls return the first result.
    /// Called automatically when <c>Diffusion.Core</c> is loaded.</summary>
    /// <returns>What was done.</returns>
    public static AllocatorTuningState EnsureApplied() => Once.Value;

#pragma warning disable CA2255 // A library module initializer is the point: the tuning must precede the first tensor of any SDK user.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void ApplyOnLoad() => _ = Once.Value;

    /// <summary>True when <paramref name="value"/> (of <see cref="EnvironmentVariable"/>) asks for glibc's defaults.</summary>
    /// <param name="value">The variable's value, or null when it is unset.</param>
    public static bool RequestsDefaults(string? value)
        => value?.Trim().ToLowerInvariant() is "default" or "defaults" or "off" or "0" or "false" or "glibc";

    private static AllocatorTuningState ApplyNow()
    {
        if (RequestsDefaults(Environment.GetEnvironmentVariable(EnvironmentVariable))
            || AppContext.TryGetSwitch(DisableSwitch, out bool off) && off)
            return AllocatorTuningState.Disabled;
        if (!OperatingSystem.IsLinux() || !NativeLibrary.TryLoad("libc.so.6", out var libc))
            return AllocatorTuningState.NotGlibc;
        // musl and others have no gnu_get_libc_version; mallopt there (if any) means something else.
        bool glibc = NativeLibrary.TryGetExport(libc, "gnu_get_libc_version", out _) && NativeLibrary.TryGetExport(libc, "mallopt", out _);
        NativeLibrary.Free(libc);
        if (!glibc) return AllocatorTuningState.NotGlibc;
        bool ok = mallopt(M_MMAP_THRESHOLD, MmapThresholdBytes) == 1;
        ok &= mallopt(M_TRIM_THRESHOLD, TrimThresholdBytes) == 1;
        return ok ? AllocatorTuningState.Applied : AllocatorTuningState.Refused;
    }

    [DllImport("libc.so.6", EntryPoint = "mallopt", ExactSpelling = true)]
    private static extern int mallopt(int parameter, int value);
}
