using System.Text.RegularExpressions;

namespace MedClip.Data.Text;

/// <summary>
/// Picks the training text out of a MIMIC-CXR free-text report, following the rules of
/// MIMIC-CXR's txt/section_parser.py and create_section_files.py:
/// <list type="bullet">
/// <item>A header is a capitalised name at the start of a line followed by a colon and whitespace
/// ("IMPRESSION:", "FINDINGS AND IMPRESSION:", "PA AND LATERAL VIEWS OF THE CHEST:"); a header
/// in other case counts too when it is a known spelling ("Findings:", "impression:"). Names are
/// normalised by <see cref="ReportSectionNames"/>; empty findings or impression sections are dropped.</item>
/// <item>The text is IMPRESSION, then FINDINGS, then ADDENDUM, each the last section of that name.
/// Impression comes first because it is the radiologist's conclusion (MIMIC's extraction prefers
/// it over findings) and because the text is cut to the context length from the end, so the
/// conclusion survives truncation. An addendum is a correction or addition to the read, so it is
/// kept, after the rest.</item>
/// <item>With none of those three, the fallbacks of create_section_files.py: the paragraphs after the
/// first of the last section ("last_paragraph", which catches reports written as a title and free
/// text), then the comparison section (where some radiologists wrote the whole read).</item>
/// <item>A caller may name the sections instead (e.g. impression only, or findings then impression): then exactly
/// those are joined, in that order, each the last non-empty section of that name, with no fallbacks.</item>
/// </list>
/// </summary>
public static partial class ReportSectionParser
{
    private sealed record Section(string Name, string Text);

    [GeneratedRegex(@"^[ \t]*(?<header>[A-Za-z][A-Za-z ()/,-]*?)[ \t]*:(?=\s|$)", RegexOptions.Multiline)]
    private static partial Regex HeaderLine();

    [GeneratedRegex(@"\n[ \t]*\n")]
    private static partial Regex ParagraphBreak();

    // The "FINAL REPORT" / "FINAL ADDENDUM" title lines, which land inside a section when an addendum precedes the report.
    [GeneratedRegex(@"^[ \t]*FINAL (?:REPORT|ADDENDUM)[ \t]*$", RegexOptions.Multiline)]
    private static partial Regex TitleLine();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    private static readonly string[] PrimarySections = [ReportSectionNames.Impression, ReportSectionNames.Findings, ReportSectionNames.Addendum];
    private static readonly string[] FallbackSections = [ReportSectionNames.LastParagraph, ReportSectionNames.Comparison];

    /// <summary>The default sections, with their fallbacks, when <paramref name="sections"/> is null; else exactly those (canonical names).</summary>
    public static ParsedReport Parse(string? report, IReadOnlyList<string>? sections = null)
    {
        if (string.IsNullOrWhiteSpace(report))
            return new ParsedReport("", [], [], ReportSkipReason.Empty);

        List<Section> found = SplitIntoSections(report.ReplaceLineEndings("\n"));
        found.RemoveAll(s => s.Name is ReportSectionNames.Impression or ReportSectionNames.Findings && string.IsNullOrWhiteSpace(s.Text));
        if (!found.Any(s => PrimarySections.Contains(s.Name)))
            SplitOffLastParagraph(found);

        List<Section> used = (sections ?? PrimarySections).Select(name => FirstPresent(found, name)).OfType<Section>().ToList();
        if (used.Count == 0 && sections is null)
            used = FallbackSections.Select(name => LastNonEmpty(found, name)).OfType<Section>().Take(1).ToList();

        string joined = string.Join(" ", used.Select(s => TitleLine().Replace(s.Text, "")));
        string text = Whitespace().Replace(joined, " ").Trim();
        List<string> names = found.Select(s => s.Name).Distinct().ToList();
        return new ParsedReport(text, names, used.Select(s => s.Name).ToList(), text.Length == 0 ? ReportSkipReason.NoUsableSection : null);
    }

    private static List<Section> SplitIntoSections(string text)
    {
        List<Match> headers = HeaderLine().Matches(text).Where(IsHeader).ToList();
        if (headers.Count == 0)
            return [new Section(ReportSectionNames.FullReport, text)];

        var sections = new List<Section> { new(ReportSectionNames.Preamble, text[..headers[0].Index]) };
        for (int i = 0; i < headers.Count; i++)
        {
            int start = headers[i].Index + headers[i].Length;
            int end = i + 1 < headers.Count ? headers[i + 1].Index : text.Length;
            sections.Add(new Section(ReportSectionNames.Normalize(headers[i].Groups["header"].Value), text[start..end]));
        }
        return sections;
    }

    // MIMIC's headers are capitalised; a lower- or mixed-case one is trusted only if it is a known name,
    // so that "the patient is s/p CABG:" style sentences never open a section.
    private static bool IsHeader(Match match)
    {
        string header = match.Groups["header"].Value;
        return !header.Any(char.IsLower) || ReportSectionNames.IsKnownHeader(header);
    }

    // create_section_files.py's "last_paragraph": everything after the first paragraph of the last section.
    private static void SplitOffLastParagraph(List<Section> sections)
    {
        Section last = sections[^1];
        Match firstBreak = ParagraphBreak().Match(last.Text);
        if (!firstBreak.Success)
            return;
        sections[^1] = last with { Text = last.Text[..firstBreak.Index] };
        sections.Add(new Section(ReportSectionNames.LastParagraph, last.Text[(firstBreak.Index + firstBreak.Length)..]));
    }

    /// <summary>A wanted section, or for "a|b" the first of the alternatives the report has (impression|findings: the impression, else the findings).</summary>
    private static Section? FirstPresent(List<Section> sections, string wanted) =>
        wanted.Split('|').Select(name => LastNonEmpty(sections, name)).FirstOrDefault(section => section is not null);

    private static Section? LastNonEmpty(List<Section> sections, string name) =>
        sections.LastOrDefault(s => s.Name == name && !string.IsNullOrWhiteSpace(s.Text));
}
