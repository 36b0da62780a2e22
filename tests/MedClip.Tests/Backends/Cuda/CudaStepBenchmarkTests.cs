using MedClip.Backends;
using MedClip.Models;
using MedClip.Training;

namespace MedClip.Tests.Backends.Cuda;

/// <summary>`bench` on the CUDA backend (the emulator, micro model): labels, MFU without a known card, device memory.</summary>
[Collection(EmulatorCollection.Name)]
public class CudaStepBenchmarkTests
{
    [EmulatorFact]
    public void Tf32FusedAttention_IsLabelled_AndReservedMemoryStopsGrowingAfterWarmUp()
    {
        // Its own backend with the pooling arena of a real GPU, so that TF32 does not leak into other tests.
        using var backend = EmulatorFixture.Create(exactAllocations: false);
        backend.AllowTf32 = true;
        var (config, context) = BackendSelfTest.MicroModel();
        var result = StepBenchmark.Run(backend, new ModelPreset("micro", config, context), batchSize: 3, steps: 2, warmupSteps: 2, fusedAttention: true);

        Assert.Equal("tf32", result.Precision);
        Assert.Equal("fused", result.Attention);
        Assert.Null(result.Mfu); // the emulator is no card of DevicePeaks
        Assert.True(result.ReservedAfterWarmupBytes > 0);
        Assert.Equal(result.ReservedAfterWarmupBytes, result.ReservedBytes);
        Assert.Contains("\"reserved_mib\":", result.ToJson());
    }
}
