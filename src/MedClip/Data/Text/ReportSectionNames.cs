using System.Text.RegularExpressions;

namespace MedClip.Data.Text;

/// <summary>
/// Section headers of MIMIC-CXR reports and the canonical names they stand for, after
/// MIMIC-CXR's own txt/section_parser.py (normalize_section_names): a table of the frequent
/// spellings (typos included, each seen in the corpus), then "contains impression / findings /
/// history / comparison / addendum", then headers that name the view ("PA AND LATERAL", "PORTABLE
/// CHEST") count as findings. Anything else keeps its lower-cased header as its name.
/// </summary>
public static partial class ReportSectionNames
{
    public const string Impression = "impression";
    public const string Findings = "findings";
    public const string Addendum = "addendum";
    public const string Comparison = "comparison";
    public const string History = "history";
    public const string Indication = "indication";
    /// <summary>The text before the first header.</summary>
    public const string Preamble = "preamble";
    /// <summary>The whole text of a report without headers.</summary>
    public const string FullReport = "full report";
    /// <summary>Everything after the first paragraph of the last section, made only when a report has no findings or impression.</summary>
    public const string LastParagraph = "last_paragraph";

    private static readonly Dictionary<string, string> KnownHeaders = new(StringComparer.Ordinal)
    {
        ["impression"] = Impression, ["impressions"] = Impression, ["conclusion"] = Impression,
        ["findings and impression"] = Impression, ["findings/impression"] = Impression, ["findings/ impression"] = Impression,
        ["impresson"] = Impression, ["imprression"] = Impression, ["imoression"] = Impression, ["impressoin"] = Impression,
        ["imprssion"] = Impression, ["impresion"] = Impression, ["imperssion"] = Impression, ["mpression"] = Impression,
        ["impession"] = Impression,

        ["findings"] = Findings, ["finding"] = Findings, ["findins"] = Findings, ["findindgs"] = Findings,
        ["findgings"] = Findings, ["findngs"] = Findings, ["findnings"] = Findings, ["finidngs"] = Findings,
        ["reference findings"] = Findings, ["chest, two views"] = Findings,

        ["addendum"] = Addendum,

        ["comparison"] = Comparison, ["comparisons"] = Comparison, ["reference exam"] = Comparison,
        ["comparison exam"] = Comparison, ["comparison film"] = Comparison, ["comparision"] = Comparison,
        ["comparsion"] = Comparison, ["comparrison"] = Comparison, ["comparisions"] = Comparison,

        ["history"] = History, ["clinical history"] = History, ["clinical information"] = History,
        ["patient history"] = History, ["pfi"] = History,

        ["indication"] = Indication, ["reason for examination"] = Indication, ["reason for exam"] = Indication,
        ["clinical indication"] = Indication, ["idication"] = Indication, ["ndication"] = Indication,

        ["examination"] = "examination", ["exam"] = "examination", ["type of examination"] = "examination",
        ["technique"] = "technique", ["notification"] = "notification", ["date"] = "date", ["comment"] = "comment",
        ["recommendation(s)"] = "recommendations", ["recommendations"] = "recommendations", ["recommendation"] = "recommendations",
        ["wet read"] = "wet read", ["wetread"] = "wet read",
    };

    // Checked in this order, so "FINDINGS AND IMPRESSION" style headers not in the table go to impression.
    private static readonly string[] MainSections = [Impression, Findings, History, Comparison, Addendum];

    [GeneratedRegex(@"chest|portable|pa and lateral|lateral and pa|ap and lateral|lateral and ap|frontal and|two views|frontal view|pa view|ap view|one view|lateral view|bone window|frontal upright|frontal semi-upright|ribs|pa and lat")]
    private static partial Regex ViewDescription();

    /// <summary>Whether a header is one of the known spellings, whatever its case (used to accept non-capitalised headers).</summary>
    public static bool IsKnownHeader(string header) => KnownHeaders.ContainsKey(header.Trim().ToLowerInvariant());

    /// <summary>The canonical section name for a header as written in the report.</summary>
    public static string Normalize(string header)
    {
        string name = header.Trim().ToLowerInvariant();
        if (KnownHeaders.TryGetValue(name, out string? canonical))
            return canonical;
        foreach (string main in MainSections)
        {
            if (name.Contains(main, StringComparison.Ordinal))
                return main;
        }
        return ViewDescription().IsMatch(name) ? Findings : name;
    }
}
