namespace MedClip.Data.Text;

/// <summary>Why a report gives no training text; the loader counts skipped reports by it.</summary>
public enum ReportSkipReason
{
    /// <summary>The report is empty or whitespace.</summary>
    Empty,
    /// <summary>The sections asked for are missing or empty (by default: no impression, findings, last paragraph, comparison or addendum).</summary>
    NoUsableSection,
}

/// <summary>
/// What <see cref="ReportSectionParser"/> makes of a report: the training text (whitespace
/// collapsed, "___" de-identification tokens kept), the canonical names of the sections it found
/// in report order, and those the text was taken from in the order they were joined.
/// </summary>
public sealed record ParsedReport(string Text, IReadOnlyList<string> SectionsFound, IReadOnlyList<string> SectionsUsed, ReportSkipReason? SkipReason)
{
    public bool IsUsable => SkipReason is null;
}
