using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Training;

/// <summary>
/// ATen's automatic mixed precision (PyTorch's <c>torch.autocast</c>) for TorchSharp, which has no API for it: inside
/// a scope, libtorch runs the operations of its lower-precision list (convolutions, matrix products, linear layers,
/// scaled dot-product attention) in bfloat16 and those of its float32 list (losses, reductions, norms where listed)
/// in float32, casting inputs per operation and caching the bf16 copy of each float32 weight until the outermost
/// scope ends. Parameters, their gradients, the optimizer and the EMA stay float32, with no master copy.
/// <para>
/// The switch is libtorch's own thread-local flag (<c>at::autocast::set_autocast_enabled</c>, exported by
/// <c>libtorch_cpu</c>); a scope affects only the thread that opened it, restores the previous flag and dtype when
/// disposed, also after an exception, and nests like PyTorch's context manager. Run backward outside the scope, as
/// PyTorch advises: the casts recorded in forward already give the backward its dtypes.
/// </para>
/// </summary>
public sealed class Autocast : IDisposable
{
    private readonly sbyte _device;
    private readonly bool _previousEnabled;
    private readonly sbyte _previousDtype;
    private readonly int _threadId;
    private bool _disposed;

    private Autocast(sbyte device, ScalarType dtype, bool enabled = true)
    {
        var api = Api.Value ?? throw new DiffusionException(ErrorText);
        _device = device;
        _threadId = Environment.CurrentManagedThreadId;
        _previousEnabled = api.IsEnabled(device) != 0;
        _previousDtype = api.GetDtype(device);
        if (enabled) api.SetDtype(device, (sbyte)dtype);
        api.SetEnabled(device, (byte)(enabled ? 1 : 0));
        api.IncrementNesting();
    }

    /// <summary>True when libtorch's autocast entry points were found in this process's native library.</summary>
    public static bool IsAvailable => Api.Value is not null;

    /// <summary>Throws unless libtorch's autocast entry points are available (<see cref="IsAvailable"/>): the one check
    /// every user of <see cref="Precision.Autocast"/> makes before starting.</summary>
    /// <exception cref="DiffusionException">They are not.</exception>
    public static void EnsureAvailable()
    {
        if (Api.Value is null) throw new DiffusionException(ErrorText);
    }

    /// <summary>Whether autocast is on for <paramref name="device"/>'s type on the calling thread.</summary>
    /// <param name="device">The device whose type to ask about.</param>
    /// <exception cref="DiffusionException">libtorch's autocast entry points are not available (<see cref="IsAvailable"/>).</exception>
    public static bool IsEnabled(Device device)
    {
        var api = Api.Value ?? throw new DiffusionException(ErrorText);
        return api.IsEnabled(DeviceCode(device)) != 0;
    }

    /// <summary>Opens a scope in which the operations on <paramref name="device"/>'s type that ATen lists as safe in lower
    /// precision run in <paramref name="dtype"/>; dispose it (a <c>using</c>) to end it.</summary>
    /// <param name="device">The device whose operations to autocast: the CPU or a CUDA device.</param>
    /// <param name="dtype">The lower precision: <see cref="ScalarType.BFloat16"/> (the CPU's only choice) or, on CUDA,
    /// <see cref="ScalarType.Float16"/>.</param>
    /// <exception cref="DiffusionException">libtorch's autocast entry points are not available, or the dtype is not one
    /// autocast supports.</exception>
    public static Autocast Enter(Device device, ScalarType dtype = ScalarType.BFloat16)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (dtype is not (ScalarType.BFloat16 or ScalarType.Float16))
            throw new DiffusionException($"Autocast computes in bfloat16 or float16, not {dtype}.");
        return new Autocast(DeviceCode(device), dtype);
    }

    /// <summary>Opens a scope in which autocast is off for <paramref name="device"/>'s type on this thread, inside an
    /// autocast scope: for an operation that must run in the dtype its inputs have (PyTorch's
    /// <c>autocast(enabled=False)</c>). Returns null when autocast is not on here, so it costs nothing outside autocast.</summary>
    /// <param name="device">The device whose type to switch off.</param>
    public static Autocast? Suspend(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (Api.Value is not { } api || device.type is not (DeviceType.CPU or DeviceType.CUDA)) return null;
        var code = DeviceCode(device);
        return api.IsEnabled(code) != 0 ? new Autocast(code, ScalarType.BFloat16, enabled: false) : null;
    }

    /// <summary>Ends the scope: restores the flag and dtype that were in force before it and, when this was the outermost
    /// scope, frees the cached low-precision copies of the weights (they would be stale after an optimizer step).</summary>
    /// <exception cref="InvalidOperationException">Disposed on another thread than the one that opened it (the flag is
    /// thread-local, so that would switch the wrong thread).</exception>
    public void Dispose()
    {
        if (_disposed) return;
        if (Environment.CurrentManagedThreadId != _threadId)
            throw new InvalidOperationException("An autocast scope must be disposed on the thread that opened it.");
        _disposed = true;
        var api = Api.Value!;
        api.SetEnabled(_device, (byte)(_previousEnabled ? 1 : 0));
        api.SetDtype(_device, _previousDtype);
        if (api.DecrementNesting() == 0) api.ClearCache();
    }

    private static sbyte DeviceCode(Device device) => device.type switch
    {
        DeviceType.CPU => 0, // c10::DeviceType::CPU
        DeviceType.CUDA => 1, // c10::DeviceType::CUDA
        _ => throw new DiffusionException($"Autocast supports the CPU and CUDA devices, not {device}."),
    };

    private static readonly Lazy<NativeApi?> Api = new(NativeApi.TryLoad);

    // c10::DeviceType and c10::ScalarType are int8_t enums; bool is one byte (x86-64 SysV and Windows x64 alike).
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] private delegate void SetEnabledFn(sbyte device, byte enabled);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] private delegate byte IsEnabledFn(sbyte device);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] private delegate void SetDtypeFn(sbyte device, sbyte dtype);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] private delegate sbyte GetDtypeFn(sbyte device);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] private delegate int NestingFn(); // int64_t in some versions: the low 32 bits suffice
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] private delegate void ClearCacheFn();

    private sealed record NativeApi(SetEnabledFn SetEnabled, IsEnabledFn IsEnabled, SetDtypeFn SetDtype, GetDtypeFn GetDtype,
        NestingFn IncrementNesting, NestingFn DecrementNesting, ClearCacheFn ClearCache)
    {
        // The Itanium C++ ABI names of the at::autocast functions (Linux, macOS); libtorch for Windows would need MSVC's.
        private const string SetEnabledName = "_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb";
        private const string IsEnabledName = "_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE";
        private const string SetDtypeName = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE";
        private const string GetDtypeName = "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE";
        private const string IncrementName = "_ZN2at8autocast17increment_nestingEv";
        private const string DecrementName = "_ZN2at8autocast17decrement_nestingEv";
        private const string ClearCacheName = "_ZN2at8autocast11clear_cacheEv";

        public static NativeApi? TryLoad()
        {
            using var probe = torch.zeros(1); // makes TorchSharp load libtorch before we look for it (then dlopen finds it by name)
            foreach (var name in new[] { "libtorch_cpu.so", "libtorch_cpu.dylib" })
            {
                if (!NativeLibrary.TryLoad(name, out var lib)) continue;
                T? Get<T>(string symbol) where T : Delegate
                    => NativeLibrary.TryGetExport(lib, symbol, out var p) ? Marshal.GetDelegateForFunctionPointer<T>(p) : null;
                var setEnabled = Get<SetEnabledFn>(SetEnabledName);
                var isEnabled = Get<IsEnabledFn>(IsEnabledName);
                var setDtype = Get<SetDtypeFn>(SetDtypeName);
                var getDtype = Get<GetDtypeFn>(GetDtypeName);
                var increment = Get<NestingFn>(IncrementName);
                var decrement = Get<NestingFn>(DecrementName);
                var clear = Get<ClearCacheFn>(ClearCacheName);
                if (setEnabled is null || isEnabled is null || setDtype is null || getDtype is null || increment is null || decrement is null || clear is null)
                    continue;
                return new NativeApi(setEnabled, isEnabled, setDtype, getDtype, increment, decrement, clear);
            }
            return null;
        }
    }

    private const string ErrorText = "Autocast is not available: libtorch's at::autocast entry points were not found in libtorch_cpu "
        + "(TorchSharp's libtorch on Linux or macOS has them); use Precision.BFloat16 or Precision.Float32 instead.";
}
