using System.Text;
using MedClip.Backends.Cuda.Native;
using static MedClip.Backends.Cuda.Native.CudaDriver;

namespace MedClip.Backends.Cuda;

/// <summary>
/// One GPU: its primary context, the one stream every op runs on, and what the kernels need to know about it
/// (compute capability, multiprocessors). CUDA contexts are current per thread, so every entry point of the backend
/// calls <see cref="MakeCurrent"/>, which costs a thread-static compare when nothing changed.
/// </summary>
public sealed class CudaDevice : IDisposable
{
    [ThreadStatic] private static nint _currentContext;
    private bool _disposed;

    private CudaDevice(int ordinal, nint context, nint stream)
    {
        Ordinal = ordinal;
        Context = context;
        Stream = stream;
    }

    public int Ordinal { get; }
    public nint Context { get; }
    public nint Stream { get; }
    public string Name { get; private init; } = "";
    public int ComputeMajor { get; private init; }
    public int ComputeMinor { get; private init; }
    public int Multiprocessors { get; private init; }
    public int MaxThreadsPerBlock { get; private init; }
    public long TotalMemory { get; private init; }
    public int DriverVersion { get; private init; }
    public bool IsEmulator { get; private init; }

    /// <summary>sm_XY for NVRTC's --gpu-architecture.</summary>
    public string Architecture => $"sm_{ComputeMajor}{ComputeMinor}";

    /// <summary>Opens device <paramref name="ordinal"/>; no driver or no device is a <see cref="CudaUnavailableException"/>.</summary>
    public static unsafe CudaDevice Open(int ordinal = 0)
    {
        var libraries = CudaLibraries.EnsureLoaded();
        int init = cuInit(0);
        if (init == 100) // CUDA_ERROR_NO_DEVICE
            throw new CudaUnavailableException("The CUDA driver found no GPU: check nvidia-smi, or use --device cpu.");
        if (init != 0)
            throw new CudaUnavailableException($"The CUDA driver failed to start ({ErrorName(init)}: {ErrorString(init)}): check the driver installation, or use --device cpu.");
        Check(cuDeviceGetCount(out int count), "cuDeviceGetCount");
        if (ordinal >= count)
            throw new CudaUnavailableException(count == 0
                ? "The CUDA driver found no GPU: check nvidia-smi, or use --device cpu."
                : $"GPU {ordinal} does not exist: this machine has {count}.");
        Check(cuDeviceGet(out int device, ordinal), "cuDeviceGet");
        Check(cuDevicePrimaryCtxRetain(out nint context, device), "cuDevicePrimaryCtxRetain");
        Check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
        _currentContext = context;
        Check(cuStreamCreate(out nint stream, 0), "cuStreamCreate");

        var name = new byte[256];
        fixed (byte* p = name) Check(cuDeviceGetName(p, name.Length, device), "cuDeviceGetName");
        Check(cuDeviceTotalMem_v2(out nuint total, device), "cuDeviceTotalMem_v2");
        Check(cuDriverGetVersion(out int driverVersion), "cuDriverGetVersion");
        return new CudaDevice(device, context, stream)
        {
            Name = Encoding.UTF8.GetString(name, 0, Math.Max(0, Array.IndexOf(name, (byte)0))),
            ComputeMajor = Attribute(ComputeCapabilityMajor, device),
            ComputeMinor = Attribute(ComputeCapabilityMinor, device),
            Multiprocessors = Attribute(MultiprocessorCount, device),
            MaxThreadsPerBlock = Attribute(CudaDriver.MaxThreadsPerBlock, device),
            TotalMemory = (long)total,
            DriverVersion = driverVersion,
            IsEmulator = libraries.IsEmulator,
        };
    }

    private static int Attribute(int attribute, int device)
    {
        Check(cuDeviceGetAttribute(out int value, attribute, device), "cuDeviceGetAttribute");
        return value;
    }

    /// <summary>Makes this device's context current on the calling thread.</summary>
    public void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_currentContext == Context) return;
        Check(cuCtxSetCurrent(Context), "cuCtxSetCurrent");
        _currentContext = Context;
    }

    /// <summary>Waits for everything queued on the stream.</summary>
    public void Synchronize()
    {
        MakeCurrent();
        Check(cuStreamSynchronize(Stream), "cuStreamSynchronize");
    }

    public (long Free, long Total) MemoryInfo()
    {
        MakeCurrent();
        Check(cuMemGetInfo_v2(out nuint free, out nuint total), "cuMemGetInfo_v2");
        return ((long)free, (long)total);
    }

    public void Dispose()
    {
        if (_disposed) return;
        MakeCurrent();
        cuStreamSynchronize(Stream);
        cuStreamDestroy_v2(Stream);
        _disposed = true;
        cuDevicePrimaryCtxRelease_v2(Ordinal);
        _currentContext = 0;
    }

    public override string ToString() => $"{Name} ({Architecture}, {TotalMemory / (1 << 20)} MiB)";
}
