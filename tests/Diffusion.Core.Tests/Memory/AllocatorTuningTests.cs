using System.Runtime.InteropServices;
using Diffusion.Core.Memory;

namespace Diffusion.Core.Tests.Memory;

public sealed class AllocatorTuningTests
{
    [Theory]
    [InlineData("default", true)]
    [InlineData(" Default ", true)]
    [InlineData("off", true)]
    [InlineData("0", true)]
    [InlineData("glibc", true)]
    [InlineData(null, false)]
    [InlineData("", false)]
    [InlineData("tuned", false)]
    [InlineData("1", false)]
    public void EnvironmentValueParsing(string? value, bool defaults) => Assert.Equal(defaults, AllocatorTuning.RequestsDefaults(value));

    [Fact]
    public void AppliedOnceAtLoadOnGlibcUnlessTurnedOff()
    {
        var expected = AllocatorTuning.RequestsDefaults(Environment.GetEnvironmentVariable(AllocatorTuning.EnvironmentVariable))
            ? AllocatorTuningState.Disabled
            : IsGlibc() ? AllocatorTuningState.Applied : AllocatorTuningState.NotGlibc;
        Assert.Equal(expected, AllocatorTuning.State);
        Assert.Equal(expected, AllocatorTuning.EnsureApplied()); // a second call changes nothing
    }

    [Fact]
    public void LargeBlocksComeFromTheHeapNotFromFreshMappings()
    {
        if (AllocatorTuning.State != AllocatorTuningState.Applied || !TryMallinfo(out _))
        {
            Assert.NotEqual(AllocatorTuningState.Applied, AllocatorTuning.State); // only glibc < 2.33 lacks mallinfo2
            return;
        }
        // With glibc's defaults a 16 MiB malloc is its own mmap (counted in hblkhd); tuned, it comes from the heap. (Above
        // 64 MiB, glibc's limit for the heaps of threads other than the main one, blocks are mapped whatever the setting.)
        TryMallinfo(out long before);
        var block = Marshal.AllocHGlobal(16 << 20);
        try
        {
            TryMallinfo(out long during);
            Assert.True(during - before < 16 << 20, $"a 16 MiB block was mmap'ed ({(during - before) >> 20} MiB more in mappings)");
        }
        finally { Marshal.FreeHGlobal(block); }
    }

    private static bool IsGlibc()
    {
        if (!OperatingSystem.IsLinux() || !NativeLibrary.TryLoad("libc.so.6", out var libc)) return false;
        try { return NativeLibrary.TryGetExport(libc, "gnu_get_libc_version", out _); }
        finally { NativeLibrary.Free(libc); }
    }

    // struct mallinfo2 (glibc ≥ 2.33): ten size_t fields; hblkhd (bytes in mmap'ed blocks) is the fifth.
    [StructLayout(LayoutKind.Sequential)]
    private struct MallInfo2
    {
        public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
    }

    private delegate MallInfo2 MallinfoFn();

    private static bool TryMallinfo(out long mmapped)
    {
        mmapped = 0;
        if (!OperatingSystem.IsLinux() || !NativeLibrary.TryLoad("libc.so.6", out var libc)) return false;
        if (!NativeLibrary.TryGetExport(libc, "mallinfo2", out var p)) return false;
        mmapped = (long)Marshal.GetDelegateForFunctionPointer<MallinfoFn>(p)().Hblkhd;
        return true;
    }
}
