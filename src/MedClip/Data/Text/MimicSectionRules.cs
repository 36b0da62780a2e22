using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace MedClip.Data.Text;

/// <summary>
/// The data of MIMIC-CXR's official section parser (MIT-LCP/mimic-cxr, txt/section_parser.py), embedded as
/// mimic-cxr-section-rules.json, which tools/reference/make_mimic_section_rules.py writes from a checkout of that
/// repository and which names the commit it came from.
/// </summary>
public sealed class MimicSectionRules
{
    /// <summary>The rules of the embedded table.</summary>
    public static MimicSectionRules Official { get; } = Load();

    /// <summary>The repository and commit the table was read from.</summary>
    public required string Source { get; init; }
    public required string Commit { get; init; }

    /// <summary>Lower-cased header to section name (normalize_section_names' frequent_sections, misspellings included).</summary>
    public required IReadOnlyDictionary<string, string> HeaderNames { get; init; }

    /// <summary>Section names searched for, in this order, inside a header the table does not list.</summary>
    public required IReadOnlyList<string> MainSections { get; init; }

    /// <summary>Any phrase of these in another header makes it a findings section (a header that names the view).</summary>
    public required Regex ViewPhrase { get; init; }

    /// <summary>Hand-made rules by study ("s50913680"): the section that holds the report's conclusion.</summary>
    public required IReadOnlyDictionary<string, string> SectionByStudy { get; init; }

    /// <summary>Hand-made rules by study: the conclusion is the report's characters [start, end), counted in code points.</summary>
    public required IReadOnlyDictionary<string, (int Start, int End)> SpanByStudy { get; init; }

    private sealed record Table(
        [property: JsonPropertyName("source")] string Source,
        [property: JsonPropertyName("commit")] string Commit,
        [property: JsonPropertyName("header_names")] Dictionary<string, string> HeaderNames,
        [property: JsonPropertyName("main_sections")] string[] MainSections,
        [property: JsonPropertyName("view_phrases")] string[] ViewPhrases,
        [property: JsonPropertyName("section_by_study")] Dictionary<string, string> SectionByStudy,
        [property: JsonPropertyName("span_by_study")] Dictionary<string, int[]> SpanByStudy);

    private static MimicSectionRules Load()
    {
        using Stream stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("text/mimic-cxr-section-rules.json")
            ?? throw new InvalidOperationException("The embedded MIMIC-CXR section rules are missing from the MedClip assembly.");
        Table table = JsonSerializer.Deserialize<Table>(stream)
            ?? throw new InvalidOperationException("The embedded MIMIC-CXR section rules are empty.");
        return new MimicSectionRules
        {
            Source = table.Source,
            Commit = table.Commit,
            HeaderNames = table.HeaderNames,
            MainSections = table.MainSections,
            ViewPhrase = new Regex(string.Join('|', table.ViewPhrases.Select(Regex.Escape)), RegexOptions.CultureInvariant),
            SectionByStudy = table.SectionByStudy,
            SpanByStudy = table.SpanByStudy.ToDictionary(pair => pair.Key, pair => (pair.Value[0], pair.Value[1])),
        };
    }
}
