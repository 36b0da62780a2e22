using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Backends.Cuda;
using MedClip.Backends.Cuda.Native;

namespace MedClip.Cli;

/// <summary>Turns --device into a backend, or into one sentence saying why not. (--precision bf16 runs on either backend:
/// on the CPU its rounding is emulated, for checking rather than speed.)</summary>
internal static class DeviceSelection
{
    public static readonly string[] Names = ["auto", "cpu", "cuda"];

    /// <summary>
    /// cuda opens GPU <paramref name="gpu"/> (MEDCLIP_CUDA=emulator: the emulator); auto picks CUDA when it exists and
    /// works, else the CPU. A data-parallel rank passes its local rank, so each process on a node gets its own card.
    /// </summary>
    public static IBackend Resolve(string device, int gpu = 0)
    {
        return device switch
        {
            "cpu" => CpuBackend.Instance,
            "cuda" => OpenCuda(gpu),
            _ => TryOpenCuda(gpu) ?? (IBackend)CpuBackend.Instance,
        };
    }

    private static CudaBackend OpenCuda(int gpu)
    {
        try
        {
            return new CudaBackend(new CudaBackendOptions(Device: gpu));
        }
        catch (CudaUnavailableException e)
        {
            throw new UsageException(e.Message);
        }
    }

    private static CudaBackend? TryOpenCuda(int gpu)
    {
        try
        {
            return new CudaBackend(new CudaBackendOptions(Device: gpu));
        }
        catch (CudaUnavailableException e)
        {
            // A machine without the NVIDIA driver is a CPU machine: say nothing. A driver that is there but unusable is worth one line.
            if (!e.NoDriver) Console.Error.WriteLine($"Using the CPU: {e.Message}");
            return null;
        }
    }
}
