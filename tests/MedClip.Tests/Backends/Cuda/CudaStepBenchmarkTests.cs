using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Backends.Cuda;
using MedClip.Diagnostics;
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
        var result = StepBenchmark.Run(backend, new ModelPreset("micro", config, context), batchSize: 3, steps: 2, warmupSteps: 2,
            compute: new ComputePolicy(Attention: AttentionKind.Fused));

        Assert.Equal("tf32", result.Precision);
        Assert.Equal("fused", result.Attention);
        Assert.Null(result.Mfu); // the emulator is no card of DevicePeaks, and no device whose ceiling could be measured
        Assert.Null(result.PeakSource);
        Assert.True(result.ReservedAfterWarmupBytes > 0);
        Assert.Equal(result.ReservedAfterWarmupBytes, result.ReservedBytes);
        Assert.Contains("\"reserved_mib\":", result.ToJson());
    }

    [EmulatorFact]
    public void DeviceCeilings_TimeACopyAndAGemmInEachPrecision_AndLeaveTf32AsItWas()
    {
        using var backend = EmulatorFixture.Create(exactAllocations: false);
        backend.AllowTf32 = false;
        var ceilings = DeviceCeilings.Measure(backend, copyBytes: 1 << 16, gemmSize: 24, rounds: 2, opsPerRound: 2);

        foreach (var kind in Enum.GetValues<Ceiling>())
            Assert.True(double.IsFinite(ceilings.Of(kind)) && ceilings.Of(kind) > 0, $"{kind}: {ceilings.Of(kind)}");
        Assert.False(backend.AllowTf32);
        backend.AllowTf32 = true;
        DeviceCeilings.Measure(backend, copyBytes: 1 << 16, gemmSize: 16, rounds: 1, opsPerRound: 1);
        Assert.True(backend.AllowTf32);
        Assert.Throws<ArgumentException>(() => DeviceCeilings.MeasureGemm(backend, Ceiling.Copy, size: 16));
    }
}
