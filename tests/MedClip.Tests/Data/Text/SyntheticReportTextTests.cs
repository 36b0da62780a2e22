using System.Security.Cryptography;
using System.Text;
using MedClip.Data.Text;
using MedClip.Tests.Data.Synthetic;

namespace MedClip.Tests.Data.Text;

/// <summary>
/// The synthetic reports' training texts stay what they were before the parser followed MIMIC-CXR's official rules:
/// a SHA-256 over every study's text (400 studies, seed 3), taken with the earlier parser, per section choice.
/// </summary>
public sealed class SyntheticReportTextTests(SyntheticDatasetFixture data) : IClassFixture<SyntheticDatasetFixture>
{
    [Theory]
    [InlineData("impression", 369, "0cbf9e585bb1874505c5ea1b6f92201086030aabdebf8f8d90159e3a2006e22e")]
    [InlineData("impression|findings", 400, "6914e4961e1a5860d8073876e23d3b1728adcd580c193ae865630b1dd6a56023")]
    [InlineData(null, 400, "fe38c5459b2693378ecd561ce23d39aa831636a6adc502c0c44587d597617b62")]
    public void ExtractedTexts_AreUnchanged(string? sections, int usable, string sha256)
    {
        var digest = new StringBuilder();
        int kept = 0;
        foreach (var study in data.StudyRows())
        {
            ParsedReport parsed = ReportSectionParser.Parse(study.Report, sections is null ? null : [sections]);
            digest.Append(study.StudyId).Append('\t').Append(parsed.Text).Append('\n');
            kept += parsed.IsUsable ? 1 : 0;
        }

        Assert.Equal((usable, sha256), (kept, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(digest.ToString())))));
    }
}
