using System.CommandLine;
using System.Runtime.CompilerServices;

namespace MedClip.Cli.Commands;

/// <summary>
/// The help section an option is listed under, its value placeholder and its default as help shows it. Options are
/// declared where they always were; <c>.In(group)</c> files them. An option left unfiled is listed under "Other".
/// </summary>
internal static class OptionGroups
{
    public const string Model = "Model";
    public const string Data = "Data";
    public const string Mimic = "MIMIC-CXR (--data mimic:DIR or synthetic)";
    public const string Manifest = "Manifest (--data manifest:FILE)";
    public const string Optimisation = "Optimisation";
    public const string Evaluation = "Evaluation";
    public const string Precision = "Precision and device";
    public const string Distributed = "Distributed (mpirun or torchrun-style launch)";
    public const string Output = "Output";
    public const string Other = "Other";

    /// <summary>The order of the sections in help.</summary>
    public static readonly string[] Order = [Model, Data, Mimic, Manifest, Optimisation, Evaluation, Precision, Distributed, Output, Other];

    public sealed record Entry(string Group, string? Value, string? Default);

    private static readonly ConditionalWeakTable<Option, Entry> Entries = new();

    /// <summary>Files <paramref name="option"/> under <paramref name="group"/>; <paramref name="value"/> names its argument
    /// (e.g. N, DIR), <paramref name="defaultValue"/> is its default as help writes it: "(default X)".</summary>
    public static T In<T>(this T option, string group, string? value = null, object? defaultValue = null) where T : Option
    {
        Entries.AddOrUpdate(option, new Entry(group, value, defaultValue is null ? null : Format(defaultValue)));
        return option;
    }

    public static Entry Of(Option option) => Entries.TryGetValue(option, out var entry) ? entry : new Entry(Other, null, null);

    public static string Format(object value) => value switch
    {
        double d => d.ToString("G", System.Globalization.CultureInfo.InvariantCulture),
        bool b => b ? "on" : "off",
        _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };
}
