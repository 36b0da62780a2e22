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
    [InlineData("Impression: Mild edema.", "impression")]
    [InlineData("impression:\n  Mild edema.", "impression")]
    [InlineData("IMPRESSIONS: Mild edema.", "impression")]
    [InlineData("CONCLUSION: Mild edema.", "impression")]
    [InlineData("IMPRESSON: Mild edema.", "impression")]
    [InlineData("FINDINGS/IMPRESSION: Mild edema.", "impression")]
    [InlineData("Findings: Mild edema.", "findings")]
    [InlineData("FINDNGS: Mild edema.", "findings")]
    [InlineData("PORTABLE AP VIEW OF THE CHEST: Mild edema.", "findings")]
    [InlineData("CHEST, TWO VIEWS: Mild edema.", "findings")]
    public void HeaderSpellingsAndCase_AreNormalised(string section, string expectedName)
    {
        ParsedReport parsed = ReportSectionParser.Parse($"FINAL REPORT\n INDICATION: Dyspnea.\n \n {section}\n");

        Assert.Equal("Mild edema.", parsed.Text);
        Assert.Equal([expectedName], parsed.SectionsUsed);
    }

    [Fact]
    public void LowerCaseLineWithColon_IsNotAHeaderUnlessKnown()
    {
        const string report = "FINAL REPORT\n FINDINGS:\n The patient is s/p CABG:\n sternal wires are intact.\n";

        ParsedReport parsed = ReportSectionParser.Parse(report);

        Assert.Equal("The patient is s/p CABG: sternal wires are intact.", parsed.Text);
    }

    [Fact]
    public void Addendum_IsKeptAfterTheImpressionWithoutTheTitleLine()
    {
        const string report = """
             ADDENDUM:  The right IJ catheter terminates in the right atrium, not the SVC as stated.

                                             FINAL REPORT
             FINDINGS:  Right IJ catheter in place.  No pneumothorax.

             IMPRESSION:  Catheter in place as described.
            """;

        ParsedReport parsed = ReportSectionParser.Parse(report);

        Assert.Equal(["impression", "findings", "addendum"], parsed.SectionsUsed);
        Assert.StartsWith("Catheter in place as described. Right IJ catheter in place.", parsed.Text);
        Assert.EndsWith("terminates in the right atrium, not the SVC as stated.", parsed.Text);
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
