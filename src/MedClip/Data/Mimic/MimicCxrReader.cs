using System.Globalization;

namespace MedClip.Data.Mimic;

/// <summary>The samples a reader kept and the counts of what it skipped.</summary>
public sealed record MimicCxrDataset(IReadOnlyList<ImageTextSample> Samples, LoadSummary Summary);

/// <summary>
/// Reads a MIMIC-CXR-JPG folder (<see cref="MimicCxrLayout"/>): one sample per image listed in the
/// metadata table, joined by dicom_id to the split table and by study_id to the CheXpert table,
/// with the study's raw report as its text. Frontal views (PA, AP) only unless asked otherwise.
/// </summary>
public static class MimicCxrReader
{
    public const string SkippedNotFrontal = "not frontal";
    public const string SkippedNoSplitRow = "no split row";
    public const string SkippedNoLabelRow = "no label row";
    public const string SkippedMissingImage = "missing image";
    public const string SkippedMissingReport = "missing report";

    public static IReadOnlyList<string> FrontalViews { get; } = ["PA", "AP"];

    public static MimicCxrDataset Read(string root, bool frontalOnly = true)
    {
        if (!Directory.Exists(root))
            throw new DirectoryNotFoundException($"MIMIC-CXR folder '{root}' does not exist; give the folder that holds {MimicCxrLayout.MetadataTable} and files/.");

        CsvTable metadata = ReadTable(root, MimicCxrLayout.MetadataTable);
        Dictionary<string, string> splitByDicom = ReadSplits(ReadTable(root, MimicCxrLayout.SplitTable));
        Dictionary<string, IReadOnlyDictionary<string, float?>> labelsByStudy = ReadLabels(ReadTable(root, MimicCxrLayout.ChexpertTable));

        int dicomColumn = metadata.ColumnIndex("dicom_id");
        int subjectColumn = metadata.ColumnIndex("subject_id");
        int studyColumn = metadata.ColumnIndex("study_id");
        int viewColumn = metadata.ColumnIndex("ViewPosition");

        var samples = new List<ImageTextSample>();
        var summary = new LoadSummary();
        var reportByStudy = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (string[] row in metadata.Rows)
        {
            string dicomId = row[dicomColumn].Trim();
            string subjectId = row[subjectColumn].Trim();
            string studyId = row[studyColumn].Trim();
            string? view = row[viewColumn].Trim() is { Length: > 0 } position ? position : null;

            if (frontalOnly && (view is null || !FrontalViews.Contains(view)))
            {
                summary.CountSkipped(SkippedNotFrontal);
                continue;
            }
            if (!splitByDicom.TryGetValue(dicomId, out string? split))
            {
                summary.CountSkipped(SkippedNoSplitRow);
                continue;
            }
            if (!labelsByStudy.TryGetValue(studyId, out IReadOnlyDictionary<string, float?>? labels))
            {
                summary.CountSkipped(SkippedNoLabelRow);
                continue;
            }
            string imagePath = Path.Combine(root, MimicCxrLayout.ImagePath(subjectId, studyId, dicomId));
            if (!File.Exists(imagePath))
            {
                summary.CountSkipped(SkippedMissingImage);
                continue;
            }
            if (!reportByStudy.TryGetValue(studyId, out string? report))
            {
                string reportPath = Path.Combine(root, MimicCxrLayout.ReportPath(subjectId, studyId));
                report = File.Exists(reportPath) ? File.ReadAllText(reportPath) : null;
                reportByStudy[studyId] = report;
            }
            if (report is null)
            {
                summary.CountSkipped(SkippedMissingReport);
                continue;
            }
            samples.Add(new ImageTextSample(imagePath, report, split, subjectId, studyId, dicomId, view, labels));
            summary.CountKept();
        }
        return new MimicCxrDataset(samples, summary);
    }

    private static CsvTable ReadTable(string root, string table) =>
        CsvTable.Read(MimicCxrLayout.FindTable(root, table)
            ?? throw new FileNotFoundException(
                $"MIMIC-CXR folder '{root}' has no {table} (or {table}.gz); copy the dataset's CSV tables there.", Path.Combine(root, table)));

    private static Dictionary<string, string> ReadSplits(CsvTable table)
    {
        int dicomColumn = table.ColumnIndex("dicom_id");
        int splitColumn = table.ColumnIndex("split");
        var splitByDicom = new Dictionary<string, string>(table.Rows.Count, StringComparer.Ordinal);
        foreach (string[] row in table.Rows)
            splitByDicom[row[dicomColumn].Trim()] = row[splitColumn].Trim();
        return splitByDicom;
    }

    private static Dictionary<string, IReadOnlyDictionary<string, float?>> ReadLabels(CsvTable table)
    {
        int studyColumn = table.ColumnIndex("study_id");
        int[] labelColumns = ChexpertLabels.All.Select(table.ColumnIndex).ToArray();
        var labelsByStudy = new Dictionary<string, IReadOnlyDictionary<string, float?>>(table.Rows.Count, StringComparer.Ordinal);
        for (int r = 0; r < table.Rows.Count; r++)
        {
            string[] row = table.Rows[r];
            var labels = new Dictionary<string, float?>(ChexpertLabels.All.Count, StringComparer.Ordinal);
            for (int i = 0; i < labelColumns.Length; i++)
                labels[ChexpertLabels.All[i]] = ParseLabel(table, r, row[labelColumns[i]]);
            labelsByStudy[row[studyColumn].Trim()] = labels;
        }
        return labelsByStudy;
    }

    private static float? ParseLabel(CsvTable table, int rowIndex, string field)
    {
        field = field.Trim();
        if (field.Length == 0)
            return null;
        if (float.TryParse(field, NumberStyles.Float, CultureInfo.InvariantCulture, out float value) && value is 1f or 0f or -1f)
            return value;
        throw new InvalidDataException(
            $"'{table.Path}' data row {rowIndex + 1} has the label value '{field}'; CheXpert labels are 1.0, 0.0, -1.0 or blank.");
    }
}
