using System.CommandLine;
using MedClip.Models;

namespace MedClip.Cli.Commands;

/// <summary>Options that several commands share, declared once so that their names, defaults and checks agree.</summary>
internal static class CommonOptions
{
    public static Option<string> Device() => Choice("--device", "Where to run: auto (CUDA when available, else CPU), cpu or cuda.", "auto", DeviceSelection.Names);

    public static Option<string> Precision() => Choice("--precision", "Arithmetic: fp32, or bf16 mixed precision: linear-layer and attention GEMMs on BF16 operands (weights from BF16 copies that AdamW rewrites) with FP32 accumulation into F32 outputs; activations that only feed GEMMs are stored in BF16 (the MLP's hidden layer, a pre-LN layer's norms, and with --attention fused q, k, v and the attention output); other activations, layer norm, softmax, the loss, gradients, master weights and AdamW state stay F32. On the CPU bf16 is emulated (rounded operands, FP32 sums) for checking, not speed.", "fp32", ["fp32", "bf16"]);

    public static Option<string> Attention() => Choice("--attention", "Attention kernels: gemm (heads split by permutes, two batched GEMMs around the masked softmax, the [tokens x tokens] scores and probabilities kept for the backward; under bf16 the GEMMs take BF16 operands) or fused (FlashAttention-style kernels that read the projections in place and keep only the output and one log-sum-exp per query row, computing in FP32 (under bf16 q, k, v and the output are stored in BF16, and on compute capability 8.0 or later the products run on BF16 tensor cores with FP32 accumulation); CUDA kernels for head dimensions 8, 16, 32 and 64).", "gemm", ["gemm", "fused"]);

    public static Option<string> ModelPreset() => Choice("--model", "Model preset: tiny, small or base, a config.json, or a CLIPModel folder to start from.",
        "tiny", ModelPresets.Names, allowPaths: true);

    public static Option<bool> Json() => new("--json") { Description = "Print one JSON line instead of a summary." };

    /// <summary>An optional integer that must be at least 1 when given.</summary>
    public static Option<int?> PositiveInt(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = result =>
        {
            string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
            if (int.TryParse(text, out int value) && value >= 1) return value;
            result.AddError($"{name} must be a positive whole number, not '{text}'.");
            return null;
        },
    };

    /// <param name="allowPaths">Also accept a .json file name or an existing folder.</param>
    private static Option<string> Choice(string name, string description, string defaultValue, string[] choices, bool allowPaths = false)
    {
        var option = new Option<string>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(result =>
        {
            string? value = result.GetValueOrDefault<string>();
            if (value is not null && !choices.Contains(value)
                && !(allowPaths && (value.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || Directory.Exists(value))))
                result.AddError($"{name} '{value}' is not one of {string.Join(", ", choices)}{(allowPaths ? ", a .json file or a model folder" : "")}.");
        });
        return option;
    }
}
