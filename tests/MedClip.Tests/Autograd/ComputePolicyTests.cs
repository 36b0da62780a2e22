using System.Text.Json;
using MedClip.Autograd;
using MedClip.Training;

namespace MedClip.Tests.Autograd;

public class ComputePolicyTests
{
    [Fact]
    public void Precision_OtherThanFp32OrBf16_IsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => ComputePolicy.Parse("fp16", "gemm"));
        Assert.Equal("--precision fp16 must be fp32 or bf16.", e.Message);
        Assert.Equal(Precision.Bf16, ComputePolicy.Parse("bf16", "gemm").Precision);
    }

    [Fact]
    public void Attention_OtherThanGemmOrFused_IsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => ComputePolicy.Parse("fp32", "flash"));
        Assert.Equal("--attention flash must be gemm or fused.", e.Message);
        Assert.Equal(AttentionKind.Fused, ComputePolicy.Parse("fp32", "fused").Attention);
        Assert.Equal(ComputePolicy.Default, ComputePolicy.Parse("fp32", "gemm"));
        Assert.Equal(ComputePolicy.Default, new TrainingOptions().Compute);
    }

    [Fact]
    public void TrainOptionsJson_KeepsTheOptionValues_AndReadsThemBack()
    {
        var options = new TrainingOptions { Precision = Precision.Bf16, Attention = AttentionKind.Fused };
        string json = JsonSerializer.Serialize(options, TrainingJsonContext.Default.TrainingOptions);
        Assert.Contains("\"Precision\": \"bf16\"", json);
        Assert.Contains("\"Attention\": \"fused\"", json);
        var read = JsonSerializer.Deserialize("{\"Precision\": \"bf16\", \"Bf16\": true, \"Attention\": \"fused\", \"UsesFusedAttention\": true}",
            TrainingJsonContext.Default.TrainingOptions)!;
        Assert.Equal(new ComputePolicy(Precision.Bf16, AttentionKind.Fused), read.Compute);
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize("{\"Precision\": \"fp16\"}", TrainingJsonContext.Default.TrainingOptions));
    }
}
