using MedClip.Backends.Cpu;
using MedClip.Backends.Cuda;
using MedClip.Backends.Cuda.Native;

namespace MedClip.Backends;

/// <summary>The backend for a --device value: cpu, cuda (an error when CUDA is unavailable) or auto (CUDA when available).</summary>
public static class DeviceSelection
{
    public static readonly string[] Names = ["auto", "cpu", "cuda"];

    public static IBackend Create(string device, CudaBackendOptions? options = null) => device switch
    {
        "cpu" => CpuBackend.Instance,
        "cuda" => new CudaBackend(options),
        "auto" => TryCuda(options) ?? (IBackend)CpuBackend.Instance,
        _ => throw new ArgumentException($"Unknown device '{device}': use {string.Join(", ", Names)}."),
    };

    private static CudaBackend? TryCuda(CudaBackendOptions? options)
    {
        try
        {
            return new CudaBackend(options);
        }
        catch (CudaUnavailableException)
        {
            return null;
        }
    }
}
