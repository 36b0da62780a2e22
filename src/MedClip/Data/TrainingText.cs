using System.Text.RegularExpressions;
using MedClip.Data.Text;

namespace MedClip.Data;

/// <summary>
/// How a dataset's raw text becomes the text the model reads: a report cut to the chosen sections by
/// <see cref="ReportSectionParser"/> (MIMIC-CXR and the synthetic set), or a caption with its whitespace collapsed
/// (ROCO, manifests). Training, evaluation, prep and the texts command all read text through it.
/// </summary>
public sealed partial record TrainingText(bool IsReport, IReadOnlyList<string>? Sections = null, bool MimicStudyRules = false)
{
    public const string SkippedEmptyText = "empty text";

    /// <summary>Captions and manifest texts, used as they are.</summary>
    public static TrainingText Caption { get; } = new(IsReport: false);

    /// <summary>
    /// Reports cut to <paramref name="sections"/> (null: MedClip's own text). <paramref name="mimicStudyRules"/> applies
    /// MIMIC-CXR's hand-made rules for single studies: real MIMIC-CXR only, as the synthetic set's study ids are drawn
    /// from the same range.
    /// </summary>
    public static TrainingText Report(IReadOnlyList<string>? sections, bool mimicStudyRules) => new(IsReport: true, sections, mimicStudyRules);

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    /// <summary>The study id the hand-made MIMIC-CXR rules are looked up by, or null when they do not apply.</summary>
    public string? MimicStudyId(ImageTextSample sample) => MimicStudyRules ? sample.StudyId : null;

    /// <summary>The text the model reads, or null with the reason the sample is skipped.</summary>
    public (string? Text, string? Skip) Of(ImageTextSample sample)
    {
        if (!IsReport)
            return Whitespace().Replace(sample.Text, " ").Trim() is { Length: > 0 } collapsed ? (collapsed, null) : (null, SkippedEmptyText);
        ParsedReport parsed = ReportSectionParser.Parse(sample.Text, Sections, MimicStudyId(sample));
        return parsed.IsUsable
            ? (parsed.Text, null)
            : (null, $"report {parsed.SkipReason switch { ReportSkipReason.Empty => "empty", _ => "without the wanted sections" }}");
    }
}
