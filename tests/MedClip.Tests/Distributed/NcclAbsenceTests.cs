using System.Runtime.InteropServices;
using MedClip.Distributed;
using MedClip.Tests.Backends.Cuda;

namespace MedClip.Tests.Distributed;

/// <summary>Runs where the CUDA emulator is and NCCL is not (CI): the message for a multi-GPU launch without NCCL.</summary>
public sealed class NoNcclEmulatorFactAttribute : FactAttribute
{
    public NoNcclEmulatorFactAttribute()
    {
        Skip = new EmulatorFactAttribute().Skip
            ?? (NativeLibrary.TryLoad("libnccl.so.2", out _) ? "libnccl.so.2 is installed here; this test checks the message for its absence" : null);
    }
}

[Collection(EmulatorCollection.Name)]
public sealed class NcclAbsenceTests(EmulatorFixture emulator)
{
    [NoNcclEmulatorFact]
    public void GpuRanksWithoutNccl_AreOneClearSentence()
    {
        var launch = new DistributedLaunch(LaunchKind.EnvironmentVariables, 0, 2, 0, "localhost", 29500);
        var e = Assert.Throws<DistributedSetupException>(() => Communicators.Open(launch, emulator.Backend, TimeSpan.FromSeconds(1)));
        Assert.StartsWith("Multi-GPU training needs NCCL (libnccl.so.2), which was not found:", e.Message);
    }

    [Fact]
    public void TorchrunStyleLaunchOnTheCpu_IsRefusedWithTheAlternative()
    {
        var launch = new DistributedLaunch(LaunchKind.EnvironmentVariables, 0, 2, 0, "localhost", 29500);
        var e = Assert.Throws<DistributedSetupException>(() => Communicators.Open(launch, MedClip.Backends.Cpu.CpuBackend.Instance, TimeSpan.FromSeconds(1)));
        Assert.Contains("launch CPU processes with mpirun instead", e.Message);
    }
}
