using MedClip.Data.Text;

namespace MedClip.Tests.Data.Text;

/// <summary>Reports laid out as MIMIC-CXR's are: a title line, headers indented by one space, blank lines between sections.</summary>
public sealed class ReportSectionParserTests
{
    [Fact]
    public void FindingsAndImpression_ImpressionComesFirst()
    {
        const string report = """
                                             FINAL REPORT
             EXAMINATION:  CHEST (PA AND LAT)

             INDICATION:  ___F with cough  // eval for pneumonia

             COMPARISON:  ___

             FINDINGS:
              
             PA and lateral views of the chest provided.   There is no focal consolidation,
             effusion, or pneumothorax.  The cardiomediastinal silhouette is normal.
              
             IMPRESSION:
              
             No acute intrathoracic process.
            """;

        ParsedReport parsed = ReportSectionParser.Parse(report);

        Assert.True(parsed.IsUsable);
        Assert.Equal(
            "No acute intrathoracic process. PA and lateral views of the chest provided. There is no focal consolidation, "
            + "effusion, or pneumothorax. The cardiomediastinal silhouette is normal.",
            parsed.Text);
        Assert.Equal(["impression", "findings"], parsed.SectionsUsed);
        Assert.Equal(["preamble", "examination", "indication", "comparison", "findings", "impression"], parsed.SectionsFound);
    }

    [Fact]
    public void ImpressionOnly_IsTheText()
    {
        const string report = "FINAL REPORT\n INDICATION:  Line placement.\n \n IMPRESSION:  Right PICC tip in the mid SVC.\n";

        ParsedReport parsed = ReportSectionParser.Parse(report);

        Assert.Equal("Right PICC tip in the mid SVC.", parsed.Text);
        Assert.Equal(["impression"], parsed.SectionsUsed);
    }

    [Fact]
    public void FindingsAndImpressionHeader_CountsAsImpression()
    {
        const string report = "FINAL REPORT\n HISTORY:  Fever.\n \n FINDINGS AND IMPRESSION:  Low lung volumes.  No pneumonia.\n";

        ParsedReport parsed = ReportSectionParser.Parse(report);

        Assert.Equal("Low lung volumes. No pneumonia.", parsed.Text);
        Assert.Equal(["preamble", "history", "impression"], parsed.SectionsFound);
    }

    [Theory]
    [InlineData("IMPRESSIONS: Mild edema.", "impression")]
    [InlineData("CONCLUSION: Mild edema.", "impression")]
    [InlineData("IMPRESSON: Mild edema.", "impression")]
    [InlineData("FINDINGS/IMPRESSION: Mild edema.", "impression")]
    [InlineData("NDICATION: Mild edema.", "impression")]
    [InlineData("FINDNGS: Mild edema.", "findings")]
    [InlineData("PORTABLE AP VIEW OF THE CHEST: Mild edema.", "findings")]
    [InlineData("CHEST, TWO VIEWS: Mild edema.", "findings")]
    public void HeaderSpellingsAndCase_AreNormalised(string section, string expectedName)
    {
        ParsedReport parsed = ReportSectionParser.Parse($"FINAL REPORT\n INDICATION: Dyspnea.\n \n {section}\n");

        Assert.Equal("Mild edema.", parsed.Text);
        Assert.Equal([expectedName], parsed.SectionsUsed);
    }

    [Theory]
    [InlineData("Impression: Mild edema.")]
    [InlineData("impression:\n Mild edema.")]
    [InlineData("Findings: Mild edema.")]
    public void MixedCaseHeader_IsNoHeader_AndStaysInTheText(string section)
    {
        ParsedReport parsed = ReportSectionParser.Parse($"FINAL REPORT\n INDICATION: Dyspnea.\n \n {section}\n", ["final"]);

        Assert.Equal(string.Join(' ', section.Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries)), parsed.Text);
        Assert.Equal(["last_paragraph"], parsed.SectionsUsed);
    }

    [Fact]
    public void BareHeaderLine_SwallowsTheLineAfterIt()
    {
        const string report = " FINAL REPORT\n COMPARISON:\n IMPRESSION: No pneumonia.\n";

        ParsedReport parsed = ReportSectionParser.Parse(report, ["final"]);

        Assert.Equal("IMPRESSION: No pneumonia.", parsed.Text);
        Assert.Equal(["comparison"], parsed.SectionsUsed);
        Assert.Equal(["preamble", "comparison"], parsed.SectionsFound);
    }

    [Fact]
    public void HandMadeRules_ApplyToTheirStudies_OnlyForMimic()
    {
        string report = " FINAL REPORT\n EXAMINATION:  CHEST PA AND LAT\n \n" + string.Concat(Enumerable.Repeat(" Lines of text.\n", 30))
            + " COMPARISON: None.\n \n IMPRESSION: Clear lungs.\n";
        string collapsedSpan = string.Join(' ', report[201..349].Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries));

        // s50525523: the characters [201, 349); s59363654: the examination section; s51491012: a history this report lacks.
        Assert.Equal(collapsedSpan, ReportSectionParser.Parse(report, ["final"], mimicStudyId: "50525523").Text);
        Assert.Equal([ReportSectionNames.HandMadeSpan], ReportSectionParser.Parse(report, ["final"], mimicStudyId: "50525523").SectionsUsed);
        Assert.Equal(collapsedSpan, ReportSectionParser.Parse(report, mimicStudyId: "50525523").Text);
        Assert.False(ReportSectionParser.Parse(report, ["impression"], mimicStudyId: "50525523").IsUsable);
        Assert.StartsWith("CHEST PA AND LAT Lines of text.", ReportSectionParser.Parse(report, ["final"], mimicStudyId: "59363654").Text);
        Assert.False(ReportSectionParser.Parse(report, ["final"], mimicStudyId: "51491012").IsUsable);
        Assert.Equal("Clear lungs.", ReportSectionParser.Parse(report, ["final"]).Text);
        Assert.Equal("Clear lungs.", ReportSectionParser.Parse(report, ["impression"], mimicStudyId: "50000001").Text);
    }

    [Fact]
    public void LowerCaseLineWithColon_IsNotAHeaderUnlessKnown()
    {
        const string report = "FINAL REPORT\n FINDINGS:\n The patient is s/p CABG:\n sternal wires are intact.\n";

        ParsedReport parsed = ReportSectionParser.Parse(report);

        Assert.Equal("The patient is s/p CABG: sternal wires are intact.", parsed.Text);
    }

    [Fact]
    public void Addendum_IsKeptAfterTheImpressionWithoutTheSeparatorAndTitleLines()
    {
        string report = "                                 FINAL ADDENDUM\n"
            + " ADDENDUM:  The right IJ catheter terminates in the right atrium, not the SVC as stated.\n \n"
            + " " + new string('_', 78) + "\n                                 FINAL REPORT\n"
            + " FINDINGS:  Right IJ catheter in place.  No pneumothorax.\n \n"
            + " IMPRESSION:  Catheter in place as described.\n";

        ParsedReport parsed = ReportSectionParser.Parse(report);

        Assert.Equal(["impression", "findings", "addendum"], parsed.SectionsUsed);
        Assert.StartsWith("Catheter in place as described. Right IJ catheter in place.", parsed.Text);
        Assert.EndsWith("terminates in the right atrium, not the SVC as stated.", parsed.Text);
        Assert.DoesNotContain("_", parsed.Text);
        Assert.DoesNotContain("FINAL", parsed.Text);
        Assert.Equal("Catheter in place as described.", ReportSectionParser.Parse(report, ["final"]).Text);
    }

    [Fact]
    public void Addendum_DoesNotBlockTheOfficialFallback()
    {
        string report = "                                 FINAL ADDENDUM\n"
            + " ADDENDUM:  Findings discussed with Dr. ___ at 10:30.\n \n"
            + " " + new string('_', 78) + "\n                                 FINAL REPORT\n"
            + " EXAMINATION:  CHEST (PORTABLE AP)\n \n Right lung is clear.\n \n Left effusion.\n";

        Assert.Equal("Right lung is clear. Left effusion.", ReportSectionParser.Parse(report, ["final"]).Text);
        Assert.Equal("Right lung is clear. Left effusion. Findings discussed with Dr. ___ at 10:30.", ReportSectionParser.Parse(report).Text);
    }

    [Fact]
    public void Alternatives_TakeTheFirstSectionTheReportHas()
    {
        const string both = "FINAL REPORT\n FINDINGS:  Small left effusion.  No pneumothorax.\n \n IMPRESSION:  Small left effusion.\n";
        const string findingsOnly = "FINAL REPORT\n FINDINGS:  Lungs are clear.\n";
        const string neither = "FINAL REPORT\n COMPARISON:  None.\n";

        ParsedReport fromBoth = ReportSectionParser.Parse(both, ["impression|findings"]);
        ParsedReport fromFindings = ReportSectionParser.Parse(findingsOnly, ["impression|findings"]);
        ParsedReport fromNeither = ReportSectionParser.Parse(neither, ["impression|findings"]);

        Assert.Equal("Small left effusion.", fromBoth.Text);
        Assert.Equal(["impression"], fromBoth.SectionsUsed);
        Assert.Equal("Lungs are clear.", fromFindings.Text);
        Assert.Equal(["findings"], fromFindings.SectionsUsed);
        Assert.Equal(ReportSkipReason.NoUsableSection, fromNeither.SkipReason);
        Assert.Equal(ReportSkipReason.NoUsableSection, ReportSectionParser.Parse(findingsOnly, ["impression"]).SkipReason);
    }

    [Fact]
    public void AddendumAlone_IsTheText()
    {
        ParsedReport parsed = ReportSectionParser.Parse("FINAL REPORT\n ADDENDUM:  New small left effusion.\n");

        Assert.Equal("New small left effusion.", parsed.Text);
        Assert.Equal(["addendum"], parsed.SectionsUsed);
    }

    [Fact]
    public void NoHeaders_FallsBackToTheParagraphsAfterTheFirst()
    {
        const string report = "                 FINAL REPORT\n CHEST RADIOGRAPH\n \n Lungs are clear.  Heart size is normal.\n \n No effusion.\n";

        ParsedReport parsed = ReportSectionParser.Parse(report);

        Assert.Equal("Lungs are clear. Heart size is normal. No effusion.", parsed.Text);
        Assert.Equal(["last_paragraph"], parsed.SectionsUsed);
        Assert.Equal(["full report", "last_paragraph"], parsed.SectionsFound);
    }

    [Fact]
    public void OnlyComparison_FallsBackToIt()
    {
        ParsedReport parsed = ReportSectionParser.Parse("FINAL REPORT\n COMPARISON:  Compared to ___, the effusion is smaller.\n");

        Assert.Equal("Compared to ___, the effusion is smaller.", parsed.Text);
        Assert.Equal(["comparison"], parsed.SectionsUsed);
    }

    [Fact]
    public void EmptyFindingsHeader_IsIgnored()
    {
        const string report = "FINAL REPORT\n FINDINGS:\n \n IMPRESSION:  Stable.\n FINDINGS:   \n";

        ParsedReport parsed = ReportSectionParser.Parse(report);

        Assert.Equal("Stable.", parsed.Text);
        Assert.DoesNotContain("findings", parsed.SectionsFound);
    }

    [Fact]
    public void OneParagraphWithoutSections_IsSkippedWithAReason()
    {
        ParsedReport parsed = ReportSectionParser.Parse("FINAL REPORT  Lungs are clear.");

        Assert.False(parsed.IsUsable);
        Assert.Equal("", parsed.Text);
        Assert.Equal(ReportSkipReason.NoUsableSection, parsed.SkipReason);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData(" \n\t \r\n")]
    public void EmptyReport_IsSkippedAsEmpty(string? report)
    {
        ParsedReport parsed = ReportSectionParser.Parse(report);

        Assert.Equal("", parsed.Text);
        Assert.Equal(ReportSkipReason.Empty, parsed.SkipReason);
        Assert.Empty(parsed.SectionsFound);
    }

    [Fact]
    public void WhitespaceCollapses_AndDeidentificationTokensStay()
    {
        ParsedReport parsed = ReportSectionParser.Parse("FINAL REPORT\r\n IMPRESSION:\r\n\tDr. ___ was   paged at ___\r\n on ___.\r\n");

        Assert.Equal("Dr. ___ was paged at ___ on ___.", parsed.Text);
    }

    [Fact]
    public void NamedSections_AreJoinedInTheGivenOrder_WithoutFallbacks()
    {
        const string report = "FINAL REPORT\n FINDINGS: Small left effusion.\n \n IMPRESSION: Effusion.\n \n ADDENDUM: Also a line.\n";

        Assert.Equal("Small left effusion. Effusion.", ReportSectionParser.Parse(report, ["findings", "impression"]).Text);
        Assert.Equal("Effusion.", ReportSectionParser.Parse(report, ["impression"]).Text);
        Assert.Equal("Effusion. Small left effusion. Also a line.", ReportSectionParser.Parse(report).Text);

        // A report with a comparison only: the default falls back to it, an explicit choice does not.
        const string comparisonOnly = "FINAL REPORT\n COMPARISON:  Compared to ___, the effusion is smaller.\n";
        Assert.True(ReportSectionParser.Parse(comparisonOnly).IsUsable);
        ParsedReport strict = ReportSectionParser.Parse(comparisonOnly, ["impression", "findings"]);
        Assert.Equal(ReportSkipReason.NoUsableSection, strict.SkipReason);
    }
}
