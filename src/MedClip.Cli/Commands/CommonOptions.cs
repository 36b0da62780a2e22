using System.CommandLine;
using MedClip.Models;

namespace MedClip.Cli.Commands;

/// <summary>Options that several commands share, declared once so that their names, defaults and checks agree.</summary>
internal static class CommonOptions
{
    public static Option<string> Device() => Choice("--device", "Where to run; auto takes a working GPU, else the CPU", "auto", DeviceSelection.Names,
        OptionGroups.Precision);

    public static Option<string> Precision() => Choice("--precision", "bf16: mixed precision (emulated on the CPU)",
        "fp32", ["fp32", "bf16"], OptionGroups.Precision);

    public static Option<string> Attention() => Choice("--attention", "Attention as two GEMMs, or FlashAttention-style kernels",
        "gemm", ["gemm", "fused"], OptionGroups.Precision);

    public static Option<string> ModelPreset() => Choice("--model", "Model preset, a dual-encoder config.json, or a CLIPModel folder", "tiny",
        ModelPresets.Names, OptionGroups.Model, allowPaths: true);

    public static Option<bool> Json() => new Option<bool>("--json") { Description = "Print one JSON line instead of a summary." }.In(OptionGroups.Output);

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
    private static Option<string> Choice(string name, string description, string defaultValue, string[] choices, string group, bool allowPaths = false)
    {
        var option = new Option<string>(name) { Description = description, DefaultValueFactory = _ => defaultValue }
            .In(group, string.Join('|', choices) + (allowPaths ? "|PATH" : ""));
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
