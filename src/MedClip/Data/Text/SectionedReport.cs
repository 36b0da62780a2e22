using System.Text.RegularExpressions;

namespace MedClip.Data.Text;

/// <summary>
/// A report cut into sections exactly as MIMIC-CXR's official section_text (txt/section_parser.py) cuts it, with the
/// choices of create_section_files.py on top:
/// <list type="bullet">
/// <item>A header is a newline, one space, then upper-case letters, spaces and ()/,- up to a colon and one whitespace
/// character; "Impression:" in mixed case is no header and stays in the text of the section around it.</item>
/// <item>A section's text starts after that whitespace character. The next header is looked for from the first newline
/// after that point, so a header on a line of its own swallows the line that follows it, header or not.</item>
/// <item>Empty impression and findings sections are dropped. With neither left, the last section is cut at its first
/// "\n \n": the rest becomes the section last_paragraph.</item>
/// <item>Final text: a study's hand-made rule, else the last impression, findings, last_paragraph or comparison, in that
/// order of preference, stripped (empty when a report has none of them).</item>
/// </list>
/// </summary>
internal sealed partial class SectionedReport
{
    // section_parser.py's p_section; \x1c-\x1f because Python's \s matches them and .NET's does not.
    [GeneratedRegex(@"\n ([A-Z ()/,-]+):[\s\x1c-\x1f]")]
    private static partial Regex OfficialHeader();

    private const string ParagraphBreak = "\n \n";

    private readonly List<(string Name, string Text)> _sections;

    /// <summary>The canonical names of the sections in report order, each once.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>Whether one of MIMIC-CXR's hand-made rules gives this study's final text.</summary>
    public bool HasHandMadeRule { get; }

    /// <summary>create_section_files.py's text for the study, stripped, with the section it came from.</summary>
    public (string Name, string Text) Final { get; }

    private SectionedReport(List<(string Name, string Text)> sections, (string Name, string Text)? handMade)
    {
        _sections = sections;
        Names = sections.Select(s => s.Name).Distinct().ToList();
        HasHandMadeRule = handMade is not null;
        Final = handMade ?? OfficialFinal();
    }

    /// <summary>The report as the official scripts read it (universal newlines), cut into sections.</summary>
    public static SectionedReport Of(string report, string? mimicStudyId)
    {
        string text = report.Replace("\r\n", "\n").Replace('\r', '\n');
        List<(string Name, string Text)> sections = Split(text);
        MimicSectionRules rules = MimicSectionRules.Official;
        string study = "s" + mimicStudyId;
        (string Name, string Text)? handMade = null;
        if (mimicStudyId is not null && rules.SpanByStudy.TryGetValue(study, out var span))
            handMade = (ReportSectionNames.HandMadeSpan, ReportSectionParser.StripPythonWhitespace(CodePointSlice(text, span.Start, span.End)));
        else if (mimicStudyId is not null && rules.SectionByStudy.TryGetValue(study, out string? name))
            handMade = (name, LastNamed(sections, name) ?? ""); // the official script stops with an error where the section is missing
        return new SectionedReport(sections, handMade);
    }

    /// <summary>
    /// The stripped text of the last section of that name, as mimic_cxr_sectioned.csv has it; null when the report has
    /// none, and for a study under a hand-made rule (which that table leaves out).
    /// </summary>
    public string? Official(string name) => HasHandMadeRule ? null : LastNamed(_sections, name);

    private (string Name, string Text) OfficialFinal()
    {
        foreach (string name in ReportSectionNames.Official)
        {
            if (LastNamed(_sections, name) is string text)
                return (name, text);
        }
        return (ReportSectionNames.Final, "");
    }

    private static string? LastNamed(List<(string Name, string Text)> sections, string name)
    {
        int last = sections.FindLastIndex(s => s.Name == name);
        return last < 0 ? null : ReportSectionParser.StripPythonWhitespace(sections[last].Text);
    }

    private static List<(string Name, string Text)> Split(string text)
    {
        Match header = OfficialHeader().Match(text);
        var sections = new List<(string Name, string Text)>
        {
            header.Success ? (ReportSectionNames.Preamble, text[..header.Groups[1].Index]) : (ReportSectionNames.FullReport, text),
        };
        while (header.Success)
        {
            int start = header.Index + header.Length;
            int nextLine = text.IndexOf('\n', start);
            Match next = OfficialHeader().Match(text, nextLine < 0 ? start : nextLine);
            int end = next.Success ? next.Index : text.Length;
            sections.Add((ReportSectionNames.Normalize(header.Groups[1].Value), text[start..end]));
            header = next;
        }

        sections.RemoveAll(s => s.Name is ReportSectionNames.Impression or ReportSectionNames.Findings
            && ReportSectionParser.StripPythonWhitespace(s.Text).Length == 0);
        if (!sections.Any(s => s.Name is ReportSectionNames.Impression or ReportSectionNames.Findings)
            && sections[^1].Text.Split(ParagraphBreak) is { Length: > 1 } paragraphs)
        {
            sections[^1] = sections[^1] with { Text = paragraphs[0] };
            sections.Add((ReportSectionNames.LastParagraph, string.Join(ParagraphBreak, paragraphs[1..])));
        }
        return sections;
    }

    // The hand-made spans count Python code points; a UTF-16 string differs from that only past a surrogate pair.
    private static string CodePointSlice(string text, int start, int end)
    {
        int Offset(int codePoints)
        {
            int index = 0;
            for (int n = 0; n < codePoints && index < text.Length; n++)
                index += char.IsSurrogatePair(text, index) ? 2 : 1;
            return index;
        }
        int from = Offset(start), to = Offset(end);
        return to > from ? text[from..to] : "";
    }
}
