using System.Text.Json.Serialization;

namespace MedClip.Autograd;

/// <summary>What the GEMMs of a model read (--precision).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<Precision>))]
public enum Precision
{
    /// <summary>F32 operands, F32 sums: the reference.</summary>
    [JsonStringEnumMemberName("fp32")] Fp32,

    /// <summary>
    /// bf16 mixed precision in the style of torch.autocast: the GEMMs of <see cref="Ops.Linear"/>, <see cref="Ops.Mlp"/> and
    /// <see cref="Ops.MatMul"/> read BF16 operands (rounded to nearest even) and sum in FP32 into F32 outputs, forward and
    /// backward; parameters, gradients and every other op stay F32; the contrastive logits are F32.
    /// </summary>
    [JsonStringEnumMemberName("bf16")] Bf16,
}

/// <summary>How <see cref="Ops.MultiHeadAttention"/> runs (--attention).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<AttentionKind>))]
public enum AttentionKind
{
    /// <summary>Permutes, two batched GEMMs around the masked softmax.</summary>
    [JsonStringEnumMemberName("gemm")] Gemm,

    /// <summary>FlashAttention-style kernels (<see cref="Ops.FusedMultiHeadAttention"/>) for every non-causal attention.</summary>
    [JsonStringEnumMemberName("fused")] Fused,
}

/// <summary>
/// How a model computes: decided once where a command reads its options, handed to the model when it is built (through
/// <see cref="MedClip.Nn.Init"/>) and to the trainer, and passed explicitly to each op; nothing reads it from ambient
/// state. The default is the fp32 reference with GEMM attention.
/// </summary>
public sealed record ComputePolicy(Precision Precision = Precision.Fp32, AttentionKind Attention = AttentionKind.Gemm)
{
    public static readonly ComputePolicy Default = new();

    /// <summary>
    /// The loss is the fused InfoNCE op (<see cref="Ops.InfoNce"/>: loss and gradient in one launch) under bf16, and two
    /// cross-entropy ops in fp32, so that fp32 runs repeat their earlier numbers exactly (the two differ only in the order of sums).
    /// </summary>
    public bool FusedInfoNce => Precision == Precision.Bf16;

    /// <summary>The policy of --precision and --attention; throws naming the option when a value is neither choice.</summary>
    public static ComputePolicy Parse(string precision, string attention) => new(
        precision switch
        {
            "fp32" => Precision.Fp32,
            "bf16" => Precision.Bf16,
            _ => throw new ArgumentException($"--precision {precision} must be fp32 or bf16."),
        },
        attention switch
        {
            "gemm" => AttentionKind.Gemm,
            "fused" => AttentionKind.Fused,
            _ => throw new ArgumentException($"--attention {attention} must be gemm or fused."),
        });

    /// <summary>The option values this policy was parsed from (fp32|bf16, gemm|fused).</summary>
    public (string Precision, string Attention) OptionValues =>
        (Precision == Precision.Bf16 ? "bf16" : "fp32", Attention == AttentionKind.Fused ? "fused" : "gemm");

}
