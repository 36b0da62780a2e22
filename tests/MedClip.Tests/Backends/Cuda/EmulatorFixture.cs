using MedClip.Backends.Cuda;

namespace MedClip.Tests.Backends.Cuda;

/// <summary>
/// Runs the CUDA backend under tests/cuda-emulator: sets MEDCLIP_CUDA=emulator for this process before the libraries are
/// first loaded (the emulator library is found next to the test assembly or in tests/cuda-emulator/build above it, or at
/// MEDCLIP_CUDA_EMULATOR). Kernels are cached beside the test assembly so reruns skip the g++ compile.
/// </summary>
public sealed class EmulatorFixture : IDisposable
{
    private CudaBackend? _backend;

    public static string CacheDirectory => Path.Combine(AppContext.BaseDirectory, "kernel-cache");

    /// <summary>The shared backend, opened on first use (so a run whose emulator tests are all skipped never loads it).</summary>
    public CudaBackend Backend => _backend ??= Create();

    public static CudaBackend Create(string? cacheDirectory = null, bool? exactAllocations = null)
    {
        Environment.SetEnvironmentVariable("MEDCLIP_CUDA", "emulator");
        return new CudaBackend(new CudaBackendOptions(CacheDirectory: cacheDirectory ?? CacheDirectory, ExactAllocations: exactAllocations));
    }

    public void Dispose() => _backend?.Dispose();
}

[CollectionDefinition(Name)]
public sealed class EmulatorCollection : ICollectionFixture<EmulatorFixture>
{
    public const string Name = "CUDA emulator";
}
