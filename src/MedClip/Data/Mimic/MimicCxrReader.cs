using System.Globalization;
using System.Text;

namespace MedClip.Data.Mimic;

/// <summary>
/// Reads a MIMIC-CXR-JPG folder (<see cref="MimicCxrLayout"/>): one sample per image listed in the metadata table,
/// joined by dicom_id to the split table and by study_id to the label table (CheXpert or NegBio), with the study's raw
/// report as its text. Tables are found by column name, plain or gzipped. Only the views asked for are kept (frontal
/// PA and AP by default). Nothing in the data stops the read: each unusable row is skipped and counted by reason.
/// <list type="bullet">
/// <item>A metadata row repeating an earlier dicom_id is skipped; the first one wins.</item>
/// <item>A study_id with two or more label rows is ambiguous, so all its images are skipped.</item>
/// <item>A label row with a value other than 1, 0, -1 or blank skips the study's images; a malformed CSV line (a field
/// missing) is counted too.</item>
/// <item>Split rows naming an image that the metadata does not list, or whose file is missing, are counted.</item>
/// <item>Reports must be UTF-8 (MIMIC's are ASCII); others are skipped rather than read with replaced characters.</item>
/// </list>
/// </summary>
public static class MimicCxrReader
{
    public const string SkippedViewNotKept = "view not kept";
    public const string SkippedNoSplitRow = "no split row";
    public const string SkippedNoLabelRow = "no label row";
    public const string SkippedMissingImage = "missing image";
    public const string SkippedMissingReport = "missing report";
    public const string SkippedReportNotRegularFile = "report not a regular file";
    public const string SkippedReportNotUtf8 = "report not UTF-8";
    public const string SkippedDuplicateDicom = "duplicate dicom_id";
    public const string SkippedDuplicateStudy = "duplicate study_id in label table";
    public const string SkippedBadLabel = "unparsable label";
    public const string SkippedMalformedRow = "malformed CSV row";
    public const string SplitRowWithoutImage = "split row naming no image";

    public static IReadOnlyList<string> FrontalViews { get; } = ["PA", "AP"];

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static RawDataset Read(string root) => Read(root, new DatasetOptions());

    public static RawDataset Read(string root, DatasetOptions options)
    {
        if (!Directory.Exists(root))
            throw new DirectoryNotFoundException($"MIMIC-CXR folder '{root}' does not exist; give the folder that holds {MimicCxrLayout.MetadataTable} and files/.");
        string reportsRoot = options.ReportsDirectory ?? root;
        if (!Directory.Exists(reportsRoot))
            throw new DirectoryNotFoundException($"Reports folder '{reportsRoot}' does not exist; give the MIMIC-CXR reports folder that holds files/.");
        var uncertain = UncertainLabelPolicy.Parse(options.Uncertain ?? UncertainLabelPolicy.GloriaName);
        var summary = new LoadSummary();

        CsvTable metadata = ReadTable(root, MimicCxrLayout.MetadataTable, summary);
        CsvTable splitTable = ReadTable(root, MimicCxrLayout.SplitTable, summary);
        Dictionary<string, string> splitByDicom = ReadSplits(splitTable);
        LabelRows labels = ReadLabels(ReadTable(root, MimicCxrLayout.LabelTable(options.Labels), summary), uncertain);

        int dicomColumn = metadata.ColumnIndex("dicom_id");
        int subjectColumn = metadata.ColumnIndex("subject_id");
        int studyColumn = metadata.ColumnIndex("study_id");
        int viewColumn = metadata.ColumnIndex("ViewPosition");

        var samples = new List<ImageTextSample>();
        var reportByStudy = new Dictionary<string, (string? Text, string? Skip)>(StringComparer.Ordinal);
        var dicomsSeen = new HashSet<string>(StringComparer.Ordinal);
        var dicomsWithImage = new HashSet<string>(StringComparer.Ordinal);
        foreach (string[] row in metadata.Rows)
        {
            string dicomId = row[dicomColumn].Trim();
            string subjectId = row[subjectColumn].Trim();
            string studyId = row[studyColumn].Trim();
            string? view = row[viewColumn].Trim() is { Length: > 0 } position ? position : null;

            if (!dicomsSeen.Add(dicomId))
            {
                summary.CountSkipped(SkippedDuplicateDicom);
                continue;
            }
            string imagePath = Path.Combine(root, MimicCxrLayout.ImagePath(subjectId, studyId, dicomId));
            bool imageExists = File.Exists(imagePath);
            if (imageExists)
                dicomsWithImage.Add(dicomId);
            if (options.Views.Count > 0 && (view is null || !options.Views.Contains(view, StringComparer.OrdinalIgnoreCase)))
            {
                summary.CountSkipped(SkippedViewNotKept);
                continue;
            }
            if (!splitByDicom.TryGetValue(dicomId, out string? split))
            {
                summary.CountSkipped(SkippedNoSplitRow);
                continue;
            }
            if (labels.SkipByStudy.TryGetValue(studyId, out string? labelSkip))
            {
                summary.CountSkipped(labelSkip);
                continue;
            }
            if (!labels.ByStudy.TryGetValue(studyId, out IReadOnlyDictionary<string, float?>? studyLabels))
            {
                summary.CountSkipped(SkippedNoLabelRow);
                continue;
            }
            if (!imageExists)
            {
                summary.CountSkipped(SkippedMissingImage);
                continue;
            }
            if (!reportByStudy.TryGetValue(studyId, out var report))
            {
                report = ReadReport(Path.Combine(reportsRoot, MimicCxrLayout.ReportPath(subjectId, studyId)));
                reportByStudy[studyId] = report;
            }
            if (report.Text is null)
            {
                summary.CountSkipped(report.Skip!);
                continue;
            }
            samples.Add(new ImageTextSample(imagePath, report.Text, split, subjectId, studyId, dicomId, view, studyLabels));
            summary.CountKept();
        }

        int splitDicomColumn = splitTable.ColumnIndex("dicom_id");
        foreach (string[] row in splitTable.Rows)
        {
            if (!dicomsWithImage.Contains(row[splitDicomColumn].Trim()))
                summary.CountSkipped(SplitRowWithoutImage);
        }
        return new RawDataset(samples, summary);
    }

    private static (string? Text, string? Skip) ReadReport(string path)
    {
        if (!File.Exists(path))
            return (null, SkippedMissingReport);
        if (IO.PosixFileSystem.NotRegularFile(path) is not null)
            return (null, SkippedReportNotRegularFile);
        try
        {
            return (StrictUtf8.GetString(File.ReadAllBytes(path)).TrimStart('\uFEFF'), null);
        }
        catch (DecoderFallbackException)
        {
            return (null, SkippedReportNotUtf8);
        }
    }

    private static CsvTable ReadTable(string root, string table, LoadSummary summary)
    {
        CsvTable csv = CsvTable.Read(MimicCxrLayout.FindTable(root, table)
            ?? throw new FileNotFoundException(
                $"MIMIC-CXR folder '{root}' has no {table} (or {table}.gz); copy the dataset's CSV tables there.", Path.Combine(root, table)),
            skipMalformedRows: true);
        for (int i = 0; i < csv.MalformedRows.Count; i++)
            summary.CountSkipped(SkippedMalformedRow);
        return csv;
    }

    private static Dictionary<string, string> ReadSplits(CsvTable table)
    {
        int dicomColumn = table.ColumnIndex("dicom_id");
        int splitColumn = table.ColumnIndex("split");
        var splitByDicom = new Dictionary<string, string>(table.Rows.Count, StringComparer.Ordinal);
        foreach (string[] row in table.Rows)
            splitByDicom.TryAdd(row[dicomColumn].Trim(), row[splitColumn].Trim());
        return splitByDicom;
    }

    /// <summary>Labels of the usable studies, and the skip reason of studies whose label rows are unusable.</summary>
    private sealed record LabelRows(Dictionary<string, IReadOnlyDictionary<string, float?>> ByStudy, Dictionary<string, string> SkipByStudy);

    private static LabelRows ReadLabels(CsvTable table, UncertainLabelPolicy uncertain)
    {
        int studyColumn = table.ColumnIndex("study_id");
        int[] labelColumns = ChexpertLabels.All.Select(table.ColumnIndex).ToArray();
        var byStudy = new Dictionary<string, IReadOnlyDictionary<string, float?>>(table.Rows.Count, StringComparer.Ordinal);
        var skipByStudy = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string[] row in table.Rows)
        {
            string studyId = row[studyColumn].Trim();
            if (byStudy.Remove(studyId) || skipByStudy.ContainsKey(studyId))
            {
                skipByStudy[studyId] = SkippedDuplicateStudy;
                continue;
            }
            var labels = new Dictionary<string, float?>(ChexpertLabels.All.Count, StringComparer.Ordinal);
            bool parsed = true;
            for (int i = 0; i < labelColumns.Length && parsed; i++)
            {
                parsed = TryParseLabel(row[labelColumns[i]], out float? value);
                labels[ChexpertLabels.All[i]] = uncertain.Apply(ChexpertLabels.All[i], value);
            }
            if (parsed)
                byStudy[studyId] = labels;
            else
                skipByStudy[studyId] = SkippedBadLabel;
        }
        return new LabelRows(byStudy, skipByStudy);
    }

    /// <summary>CheXpert's encoding: 1.0, 0.0, -1.0, or blank for not mentioned.</summary>
    private static bool TryParseLabel(string field, out float? value)
    {
        field = field.Trim();
        value = null;
        if (field.Length == 0)
            return true;
        if (float.TryParse(field, NumberStyles.Float, CultureInfo.InvariantCulture, out float parsed) && parsed is 1f or 0f or -1f)
        {
            value = parsed;
            return true;
        }
        return false;
    }
}
