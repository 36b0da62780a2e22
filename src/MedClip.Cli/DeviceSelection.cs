using MedClip.Backends;
using MedClip.Backends.Cpu;

namespace MedClip.Cli;

/// <summary>Turns --device and --precision into a backend, or into one sentence saying why not.</summary>
internal static class DeviceSelection
{
    public static readonly string[] Names = ["auto", "cpu", "cuda"];

    /// <summary>auto picks CUDA when it exists and works, else the CPU; only the CPU backend exists so far.</summary>
    public static IBackend Resolve(string device, string precision)
    {
        if (device == "cuda")
            throw new UsageException("The CUDA backend is not available in this build yet; use --device cpu (or auto).");
        if (precision == "bf16")
            throw new UsageException("bf16 precision is not supported on the CPU backend yet; use --precision fp32.");
        return CpuBackend.Instance;
    }
}
