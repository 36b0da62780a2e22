using System.Text.Json;
using System.Text.RegularExpressions;
using MedClip.Data.Text;

namespace MedClip.Tests.Data.Text;

/// <summary>
/// The 70 reports under Fixtures/Text/mimic-reports (written in MIMIC-CXR's style to exercise every rule of the official
/// parser) against what MIT-LCP/mimic-cxr's create_section_files.py made of them
/// (tools/reference/make_mimic_section_fixture.py), compared exactly after whitespace is collapsed.
/// </summary>
public sealed partial class MimicOfficialSectionsTests
{
    private static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "Fixtures", "Text");

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    private static string Normalize(string? text) => Whitespace().Replace(text ?? "", " ").Trim();

    private sealed record Expected(string StudyId, string Report, string Final, Dictionary<string, string>? Sections);

    private static List<Expected> Load()
    {
        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures, "mimic_sections_expected.json")));
        Dictionary<string, string> reports = Directory.EnumerateFiles(Path.Combine(Fixtures, "mimic-reports", "files"), "s*.txt", SearchOption.AllDirectories)
            .ToDictionary(path => Path.GetFileNameWithoutExtension(path), File.ReadAllText);
        return json.RootElement.GetProperty("studies").EnumerateObject().Select(study => new Expected(
            study.Name[1..],
            reports[study.Name],
            study.Value.GetProperty("final").GetString()!,
            study.Value.GetProperty("sections") is { ValueKind: JsonValueKind.Object } sections
                ? sections.EnumerateObject().ToDictionary(s => s.Name, s => s.Value.GetString()!)
                : null)).ToList();
    }

    [Fact]
    public void Fixture_HasEveryKindOfReport()
    {
        List<Expected> studies = Load();

        Assert.True(studies.Count >= 60);
        Assert.Contains(studies, s => s.Sections is null);
        Assert.Contains(studies, s => s.Report.Contains(new string('_', 78)));
        Assert.Contains(studies, s => s.Sections is { } sections && sections["last_paragraph"].Length > 0);
        Assert.Contains(studies, s => s.Sections is { } sections && sections["impression"] == "" && sections["findings"] == ""
            && sections["last_paragraph"] == "" && sections["comparison"].Length > 0 && s.Final.Length > 0);
    }

    [Theory]
    [InlineData("impression")]
    [InlineData("findings")]
    [InlineData("last_paragraph")]
    [InlineData("comparison")]
    [InlineData("final")]
    [InlineData("impression|findings")]
    public void Section_IsTheOfficialText(string section)
    {
        var disagreements = new List<string>();
        foreach (Expected study in Load())
        {
            string expected = section switch
            {
                "final" => study.Final,
                "impression|findings" when study.Sections is { } s => s["impression"].Length > 0 ? s["impression"] : s["findings"],
                _ when study.Sections is { } s && !section.Contains('|') => s[section],
                _ => "",
            };
            OfficialReportText official = ReportSectionParser.Official(study.Report, study.StudyId);
            string? fromOfficial = section switch
            {
                "impression" => official.Impression,
                "findings" => official.Findings,
                "last_paragraph" => official.LastParagraph,
                "comparison" => official.Comparison,
                "final" => official.Final,
                _ => expected,
            };
            ParsedReport parsed = ReportSectionParser.Parse(study.Report, [section], study.StudyId);
            if (Normalize(expected) != parsed.Text || Normalize(expected) != Normalize(fromOfficial) || parsed.IsUsable != (parsed.Text.Length > 0))
                disagreements.Add($"s{study.StudyId}: official '{Normalize(expected)}', MedClip '{parsed.Text}'");
        }

        Assert.True(disagreements.Count == 0, $"{disagreements.Count} reports differ:\n{string.Join('\n', disagreements)}");
    }

    [Fact]
    public void HandMadeStudies_HaveNoOfficialSections()
    {
        foreach (Expected study in Load().Where(s => s.Sections is null))
        {
            OfficialReportText official = ReportSectionParser.Official(study.Report, study.StudyId);
            Assert.All(new[] { official.Impression, official.Findings, official.LastParagraph, official.Comparison }, Assert.Null);
        }
    }

    [Fact]
    public void MedClipText_NeverHoldsSeparatorLines_AndKeepsTheAddendum()
    {
        List<Expected> studies = Load();
        foreach (Expected study in studies)
            Assert.DoesNotContain("____", ReportSectionParser.Parse(study.Report, mimicStudyId: study.StudyId).Text);

        Expected withAddendum = studies.Single(s => s.StudyId == "50000057");
        ParsedReport parsed = ReportSectionParser.Parse(withAddendum.Report, mimicStudyId: withAddendum.StudyId);
        Assert.Equal(["findings", "addendum"], parsed.SectionsUsed);
        Assert.EndsWith("A small left apical pneumothorax is present on the lateral view.", parsed.Text);
        Assert.Equal(Normalize(withAddendum.Final), ReportSectionParser.Parse(withAddendum.Report, ["final"], withAddendum.StudyId).Text);
    }
}
