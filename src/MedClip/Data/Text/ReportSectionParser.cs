using System.Text.RegularExpressions;

namespace MedClip.Data.Text;

/// <summary>
/// Picks the training text out of a MIMIC-CXR free-text report. Sections are found as MIMIC-CXR's official
/// txt/section_parser.py finds them (<see cref="SectionedReport"/>), so the official choices give the official text:
/// <list type="bullet">
/// <item>impression, findings, last_paragraph, comparison: the last section of that name, as the columns of
/// create_section_files.py's mimic_cxr_sectioned.csv; a study under a hand-made rule has none of them there, nor here.</item>
/// <item>final: create_section_files.py's text: the study's hand-made rule, else the impression, else the findings,
/// else the last paragraph, else the comparison.</item>
/// <item>a|b: section a, or b where the report has no (non-empty) a; impression|findings is CheXzero's text.</item>
/// <item>any other name (indication, addendum, ...): the last section of that name.</item>
/// </list>
/// With no choice, MedClip's own text: the impression then the findings (or, with neither, the official fallback to
/// the last paragraph or the comparison), then the addendum, without the separator lines of underscores and the
/// "FINAL REPORT" title lines that an addendum written above the report brings along. A study's hand-made rule gives
/// its official final text.
/// </summary>
public static partial class ReportSectionParser
{
    [GeneratedRegex(@"^[ \t]*(?:_{10,}|FINAL (?:REPORT|ADDENDUM))[ \t]*$", RegexOptions.Multiline)]
    private static partial Regex SeparatorOrTitleLine();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    // Python's str.isspace() characters: .NET's whitespace and the four separators \x1c-\x1f.
    private static readonly char[] PythonWhitespace =
        "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000".ToCharArray();

    /// <summary>Python's str.strip(), which the official scripts apply to every section they write.</summary>
    public static string StripPythonWhitespace(string text) => text.Trim(PythonWhitespace);

    /// <summary>
    /// The text for <paramref name="sections"/> (canonical names, see the class summary), or MedClip's own text when
    /// null. <paramref name="mimicStudyId"/> (without its "s") applies MIMIC-CXR's hand-made rules for that study;
    /// leave it null for reports that are not MIMIC-CXR's.
    /// </summary>
    public static ParsedReport Parse(string? report, IReadOnlyList<string>? sections = null, string? mimicStudyId = null)
    {
        if (string.IsNullOrWhiteSpace(report))
            return new ParsedReport("", [], [], ReportSkipReason.Empty);

        var sectioned = SectionedReport.Of(report, mimicStudyId);
        List<(string Name, string Text)> used = sections is null ? MedClipText(sectioned) : Chosen(sectioned, sections);

        string text = Collapse(string.Join(" ", used.Select(part => part.Text)));
        return new ParsedReport(text, sectioned.Names, used.Select(part => part.Name).ToList(),
            text.Length == 0 ? ReportSkipReason.NoUsableSection : null);
    }

    /// <summary>The official sections and final text of a report, whitespace collapsed; null where the official scripts write none.</summary>
    public static OfficialReportText Official(string? report, string? mimicStudyId = null)
    {
        var sectioned = SectionedReport.Of(report ?? "", mimicStudyId);
        string? Section(string name) => sectioned.Official(name) is string text ? Collapse(text) : null;
        return new OfficialReportText(Section(ReportSectionNames.Impression), Section(ReportSectionNames.Findings),
            Section(ReportSectionNames.LastParagraph), Section(ReportSectionNames.Comparison), Collapse(sectioned.Final.Text));
    }

    private static List<(string Name, string Text)> Chosen(SectionedReport sectioned, IReadOnlyList<string> sections)
    {
        var used = new List<(string Name, string Text)>();
        foreach (string wanted in sections)
        {
            foreach (string name in wanted.Split('|'))
            {
                (string Name, string Text)? part = name == ReportSectionNames.Final ? sectioned.Final
                    : sectioned.Official(name) is string text ? (name, text) : null;
                if (part is { } found && found.Text.Length > 0)
                {
                    used.Add(found);
                    break;
                }
            }
        }
        return used;
    }

    private static List<(string Name, string Text)> MedClipText(SectionedReport sectioned)
    {
        if (sectioned.HasHandMadeRule)
            return [sectioned.Final];
        var parts = new List<(string Name, string Text)>();
        foreach (string name in new[] { ReportSectionNames.Impression, ReportSectionNames.Findings })
        {
            if (sectioned.Official(name) is string text)
                parts.Add((name, text));
        }
        if (parts.Count == 0 && sectioned.Final.Text.Length > 0)
            parts.Add(sectioned.Final);
        if (sectioned.Official(ReportSectionNames.Addendum) is { Length: > 0 } addendum)
            parts.Add((ReportSectionNames.Addendum, addendum));
        return parts.Select(part => (part.Name, SeparatorOrTitleLine().Replace(part.Text, ""))).ToList();
    }

    private static string Collapse(string text) => Whitespace().Replace(text, " ").Trim();
}

/// <summary>A report's official sections and final text (create_section_files.py's outputs); null where it writes none.</summary>
public sealed record OfficialReportText(string? Impression, string? Findings, string? LastParagraph, string? Comparison, string Final);
