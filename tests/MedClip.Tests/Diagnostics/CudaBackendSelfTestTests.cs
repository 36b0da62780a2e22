using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Diagnostics;
using MedClip.Models;
using MedClip.Tensors;
using MedClip.Tests.Backends.Cuda;

namespace MedClip.Tests.Diagnostics;

/// <summary>The selftest's checks (the same code as `medclip-train selftest`) against the CPU backend, under the emulator.</summary>
[Collection(EmulatorCollection.Name)]
public class CudaBackendSelfTestTests(EmulatorFixture emulator)
{
    [EmulatorFact]
    public void EveryOp_ForwardAndBackward_MatchesCpu_F32() =>
        AssertAllPass(new BackendSelfTest(emulator.Backend, CpuBackend.Instance, DType.F32, seed: 3).OpChecks());

    [EmulatorFact]
    public void EveryOp_ForwardAndBackward_MatchesCpu_F64() =>
        AssertAllPass(new BackendSelfTest(emulator.Backend, CpuBackend.Instance, DType.F64, seed: 4).OpChecks());

    [EmulatorFact]
    public void Bf16AndTf32Gemms_MatchCpuOnRoundedInputs()
    {
        var test = new BackendSelfTest(emulator.Backend, CpuBackend.Instance, DType.F32, seed: 5);
        AssertAllPass(test.Bf16Checks().Concat(test.Tf32Checks()), expected: 15);
        Assert.False(emulator.Backend.AllowTf32);
    }

    [EmulatorFact]
    public void TwoBf16TrainingSteps_MatchTheCpuEmulationOfBf16()
    {
        var (config, context) = BackendSelfTest.MicroModel();
        AssertAllPass(new BackendSelfTest(emulator.Backend, CpuBackend.Instance).TrainingChecks(config, batch: 3, context,
            compute: new ComputePolicy(Precision.Bf16)));
    }

    [EmulatorFact]
    public void TwoBf16TrainingSteps_StayNearFp32()
    {
        var (config, context) = BackendSelfTest.MicroModel();
        var checks = new BackendSelfTest(emulator.Backend, CpuBackend.Instance).Bf16VersusFp32Checks(config, batch: 3, context).ToList();
        AssertAllPass(checks);
        // Not the same numbers either: bf16 rounding must be visible in the losses, or the GEMMs did not run in bf16.
        Assert.Contains(checks, c => c.Error > 1e-4);
    }

    [EmulatorTheory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void TwoTrainingSteps_MatchCpu_LossesGradientsAndParameters(bool bf16, bool fusedAttention)
    {
        var (config, context) = BackendSelfTest.MicroModel();
        AssertAllPass(new BackendSelfTest(emulator.Backend, CpuBackend.Instance).TrainingChecks(config, batch: 3, context,
            compute: new ComputePolicy(bf16 ? Precision.Bf16 : Precision.Fp32, fusedAttention ? AttentionKind.Fused : AttentionKind.Gemm)));
    }

    [EmulatorTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void TwoTrainingSteps_ClipTextTower_MatchCpu(bool bf16)
    {
        // CLIP's text tower: causal attention with padding, quick_gelu, pooling at the end-of-text id (30 of 31, drawn at random).
        var (config, context) = BackendSelfTest.MicroModel();
        var text = config.Text with
        {
            ModelType = TextModelType.ClipText, EosTokenId = config.Text.VocabSize - 1,
            Transformer = config.Text.Transformer with { Activation = Activation.QuickGelu },
        };
        AssertAllPass(new BackendSelfTest(emulator.Backend, CpuBackend.Instance).TrainingChecks(config with { Text = text }, batch: 3, context,
            compute: new ComputePolicy(bf16 ? Precision.Bf16 : Precision.Fp32)));
    }

    private static void AssertAllPass(IEnumerable<SelfTestCheck> checks, int? expected = null)
    {
        var all = checks.ToList();
        Assert.NotEmpty(all);
        if (expected is not null) Assert.Equal(expected, all.Count);
        var failed = all.Where(c => !c.Passed).Select(c => c.ToString()).ToList();
        Assert.True(failed.Count == 0, string.Join("\n", failed));
    }
}
