using MedClip.Data.Mimic;
using MedClip.Data.Text;

namespace MedClip.Data;

/// <summary>
/// What the model reads, as a table (medclip-train texts). Reports (mimic:, synthetic): one row per study with its ids,
/// split, image count, labels, the official MIMIC-CXR sections (impression, findings, last_paragraph, comparison and
/// the final text, whitespace collapsed, empty where the official scripts write none) and the chosen text. Captions
/// (roco:, manifest:): one row per image with its id, path, split and text. A sample without text has the reason in
/// "skipped".
/// </summary>
public static class TrainingTextTable
{
    public const string TextColumn = "text";
    public const string SkippedColumn = "skipped";

    /// <summary>The columns and rows for <paramref name="raw"/> read with <paramref name="text"/>, only <paramref name="split"/>'s when given.</summary>
    public static (IReadOnlyList<string> Columns, List<string[]> Rows) Build(RawDataset raw, TrainingText text, string? split = null)
    {
        IEnumerable<ImageTextSample> samples = raw.Samples.Where(s => split is null || s.Split == split);
        return text.IsReport ? Reports(samples, text) : Captions(samples, text);
    }

    private static (IReadOnlyList<string>, List<string[]>) Reports(IEnumerable<ImageTextSample> samples, TrainingText text)
    {
        string[] columns = ["study_id", "subject_id", "split", "images", .. ChexpertLabels.All,
            .. ReportSectionNames.Official, ReportSectionNames.Final, TextColumn, SkippedColumn];
        var rows = new List<string[]>();
        foreach (IGrouping<string, ImageTextSample> study in samples.GroupBy(s => s.StudyId, StringComparer.Ordinal))
        {
            ImageTextSample first = study.First();
            OfficialReportText official = ReportSectionParser.Official(first.Text, text.MimicStudyId(first));
            (string? chosen, string? skip) = text.Of(first);
            rows.Add([first.StudyId, first.SubjectId, first.Split, study.Count().ToString(System.Globalization.CultureInfo.InvariantCulture),
                .. ChexpertLabels.All.Select(label => MimicCxrLayout.FormatLabel(first.Labels.GetValueOrDefault(label))),
                official.Impression ?? "", official.Findings ?? "", official.LastParagraph ?? "", official.Comparison ?? "", official.Final,
                chosen ?? "", skip ?? ""]);
        }
        return (columns, rows);
    }

    private static (IReadOnlyList<string>, List<string[]>) Captions(IEnumerable<ImageTextSample> samples, TrainingText text)
    {
        var rows = new List<string[]>();
        foreach (ImageTextSample sample in samples)
        {
            (string? chosen, string? skip) = text.Of(sample);
            rows.Add([sample.StudyId, sample.ImagePath, sample.Split, chosen ?? "", skip ?? ""]);
        }
        return (["id", "image", "split", TextColumn, SkippedColumn], rows);
    }
}
