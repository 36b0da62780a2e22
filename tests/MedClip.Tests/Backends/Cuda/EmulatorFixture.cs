using MedClip.Backends.Cuda;

namespace MedClip.Tests.Backends.Cuda;

/// <summary>
/// Runs the CUDA backend under tests/cuda-emulator: sets MEDCLIP_CUDA=emulator for this process before the libraries are
/// first loaded (the emulator library is found next to the test assembly or in tests/cuda-emulator/build above it, or at
/// MEDCLIP_CUDA_EMULATOR). Kernels are cached beside the test assembly so reruns skip the g++ compile.
/// </summary>
public sealed class EmulatorFixture : IDisposable
{
    public EmulatorFixture()
    {
        Environment.SetEnvironmentVariable("MEDCLIP_CUDA", "emulator");
        Backend = Create();
    }

    public static string CacheDirectory => Path.Combine(AppContext.BaseDirectory, "kernel-cache");

    public CudaBackend Backend { get; }

    public static CudaBackend Create(string? cacheDirectory = null) =>
        new(new CudaBackendOptions(CacheDirectory: cacheDirectory ?? CacheDirectory));

    public void Dispose() => Backend.Dispose();
}

[CollectionDefinition(Name)]
public sealed class EmulatorCollection : ICollectionFixture<EmulatorFixture>
{
    public const string Name = "CUDA emulator";
}
