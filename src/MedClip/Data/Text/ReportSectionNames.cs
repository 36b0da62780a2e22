namespace MedClip.Data.Text;

/// <summary>
/// Section names of MIMIC-CXR reports and how a header becomes one, as MIMIC-CXR's official
/// txt/section_parser.py (normalize_section_names) does it with the data of <see cref="MimicSectionRules"/>: the
/// lower-cased header looked up in the table of frequent spellings (misspellings included), else the first of
/// impression, findings, history, comparison, addendum that it contains, else findings when it names the view
/// ("PA AND LATERAL", "PORTABLE CHEST"), else the lower-cased header itself.
/// </summary>
public static class ReportSectionNames
{
    public const string Impression = "impression";
    public const string Findings = "findings";
    public const string Addendum = "addendum";
    public const string Comparison = "comparison";
    /// <summary>The text before the first header.</summary>
    public const string Preamble = "preamble";
    /// <summary>The whole text of a report without headers.</summary>
    public const string FullReport = "full report";
    /// <summary>Everything after the first paragraph of the last section, made only when a report has no findings or impression.</summary>
    public const string LastParagraph = "last_paragraph";
    /// <summary>The official "final text": impression, else findings, else last paragraph, else comparison, or a study's hand-made rule.</summary>
    public const string Final = "final";
    /// <summary>Names the characters a hand-made rule cuts out of a study's report.</summary>
    public const string HandMadeSpan = "hand-made span";

    /// <summary>The sections the official scripts write for every study (mimic_cxr_sectioned.csv), in their order.</summary>
    public static IReadOnlyList<string> Official { get; } = [Impression, Findings, LastParagraph, Comparison];

    /// <summary>The canonical section name for a header as written in the report (or as named on the command line).</summary>
    public static string Normalize(string header)
    {
        MimicSectionRules rules = MimicSectionRules.Official;
        string name = ReportSectionParser.StripPythonWhitespace(header.ToLowerInvariant());
        if (rules.HeaderNames.TryGetValue(name, out string? canonical))
            return canonical;
        foreach (string main in rules.MainSections)
        {
            if (name.Contains(main, StringComparison.Ordinal))
                return main;
        }
        return rules.ViewPhrase.IsMatch(name) ? Findings : name;
    }
}
