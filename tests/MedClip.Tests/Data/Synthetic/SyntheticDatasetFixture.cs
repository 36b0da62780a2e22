using MedClip.Data;
using MedClip.Data.Mimic;
using MedClip.Data.Synthetic;

namespace MedClip.Tests.Data.Synthetic;

/// <summary>One generated dataset (400 studies at 64 px) shared by the tests that only read it.</summary>
public sealed class SyntheticDatasetFixture : IDisposable
{
    public const int Studies = 400;
    public const int ImageSize = 64;

    public string Root { get; } = Directory.CreateTempSubdirectory("medclip-synthetic-").FullName;
    public SyntheticDatasetSummary Summary { get; }
    public CsvTable Metadata { get; }
    public CsvTable Splits { get; }
    public CsvTable Chexpert { get; }

    public SyntheticDatasetFixture()
    {
        Summary = SyntheticChestXrayGenerator.Generate(Root, Studies, ImageSize, seed: 3);
        Metadata = CsvTable.Read(Path.Combine(Root, MimicCxrLayout.MetadataTable));
        Splits = CsvTable.Read(Path.Combine(Root, MimicCxrLayout.SplitTable));
        Chexpert = CsvTable.Read(Path.Combine(Root, MimicCxrLayout.ChexpertTable));
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);

    /// <summary>Each study: its ids, its CheXpert row by column name, its report text and its image path.</summary>
    public IEnumerable<(string SubjectId, string StudyId, Dictionary<string, string> Labels, string Report, string ImagePath)> StudyRows()
    {
        int dicom = Metadata.ColumnIndex("dicom_id"), metadataStudy = Metadata.ColumnIndex("study_id");
        Dictionary<string, string> dicomByStudy = Metadata.Rows.ToDictionary(row => row[metadataStudy], row => row[dicom]);
        foreach (string[] row in Chexpert.Rows)
        {
            var labels = Chexpert.Columns.Select((column, i) => (column, value: row[i])).ToDictionary(pair => pair.column, pair => pair.value);
            string subject = labels["subject_id"], study = labels["study_id"];
            yield return (subject, study, labels,
                File.ReadAllText(Path.Combine(Root, MimicCxrLayout.ReportPath(subject, study))),
                Path.Combine(Root, MimicCxrLayout.ImagePath(subject, study, dicomByStudy[study])));
        }
    }
}
