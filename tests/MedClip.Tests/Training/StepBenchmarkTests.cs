using System.Text.Json;
using MedClip.Backends.Cpu;
using MedClip.Models;
using MedClip.Training;

namespace MedClip.Tests.Training;

public class StepBenchmarkTests
{
    [Fact]
    public void Tiny_PrintsTheContractsJsonKeysInOrder()
    {
        var result = StepBenchmark.Run(CpuBackend.Instance, ModelPresets.Get("tiny"), batchSize: 2, steps: 1, warmupSteps: 0);

        using var json = JsonDocument.Parse(result.ToJson());
        // The contract's keys first; then the attention kernels, the phase split (timed on the CPU, which never runs
        // ahead of the host), on the CPU the GEMM's vector path, and on CUDA the reserved device memory.
        Assert.Equal(["device", "model", "batch_size", "precision", "step_ms", "images_per_s", "tflops", "mfu", "attention", "phase_times",
            "forward_ms", "backward_ms", "update_ms", "cpu_gemm"],
            json.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal(CpuGemmPaths.Name(CpuGemmPaths.Host), json.RootElement.GetProperty("cpu_gemm").GetString());
        Assert.Equal("gemm", json.RootElement.GetProperty("attention").GetString());
        Assert.Equal("cpu", json.RootElement.GetProperty("device").GetString());
        Assert.Equal(2, json.RootElement.GetProperty("batch_size").GetInt32());
        Assert.True(json.RootElement.GetProperty("step_ms").GetDouble() > 0);
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("mfu").ValueKind);
        // tools/reference/torch_clip_bench.py builds the same model in PyTorch and prints the same count.
        Assert.Equal(1_950_081, result.Parameters);
    }

    [Fact]
    public void FusedAttention_IsRunAndReported()
    {
        var result = StepBenchmark.Run(CpuBackend.Instance, ModelPresets.Get("tiny"), batchSize: 2, steps: 1, warmupSteps: 1, fusedAttention: true);

        Assert.Equal("fused", result.Attention);
        Assert.True(double.IsFinite(result.StepMs) && result.StepMs > 0);
        Assert.Null(result.ReservedBytes);
    }

    [Theory]
    [InlineData("NVIDIA H200", "bf16", 989.4)]
    [InlineData("NVIDIA H100 80GB HBM3", "tf32", 494.7)]
    [InlineData("NVIDIA H100 PCIe", "bf16", 756.5)]
    [InlineData("NVIDIA A100-SXM4-80GB", "fp32", 19.5)]
    [InlineData("NVIDIA L40S", "bf16", 362.1)]
    public void DevicePeaks_KnownCards(string name, string precision, double expected) =>
        Assert.Equal(expected, DevicePeaks.PeakTflops(name, precision));

    [Fact]
    public void DevicePeaks_UnknownCardHasNone_AndAnUnknownPrecisionIsNamed()
    {
        Assert.Null(DevicePeaks.PeakTflops("MedClip CUDA emulator", "bf16"));
        var e = Assert.Throws<ArgumentException>(() => DevicePeaks.PeakTflops("NVIDIA H200", "fp16"));
        Assert.Equal("No peak for precision 'fp16'; it is fp32, tf32 or bf16.", e.Message);
    }

    [Fact]
    public void ModelFlops_CountsEveryMatmulOfTheForward()
    {
        var tiny = ModelPresets.Get("tiny");
        // Per image: patch embedding 64*192*128, 4 layers of 65 tokens x (4*128^2 + 2*128*512) + 2*65^2*128, pooler
        // and projection 2*128^2. Per text: 4 layers of 64 tokens likewise, pooler and projection. Per pair: 32*128 logits.
        long image = 64L * 192 * 128 + 4 * (65L * (4 * 128 * 128 + 2 * 128 * 512) + 2L * 65 * 65 * 128) + 2L * 128 * 128;
        long text = 4 * (64L * (4 * 128 * 128 + 2 * 128 * 512) + 2L * 64 * 64 * 128) + 2L * 128 * 128;
        Assert.Equal(32 * (image + text + 32L * 128), ModelFlops.ForwardMultiplyAdds(tiny.Config, 32, tiny.ContextLength));
        Assert.Equal(6.0 * 32 * (image + text + 32L * 128), ModelFlops.TrainingStepFlops(tiny.Config, 32, tiny.ContextLength));
    }
}
