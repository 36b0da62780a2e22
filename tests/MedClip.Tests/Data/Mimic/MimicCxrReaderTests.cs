using System.IO.Compression;
using MedClip.Data;
using MedClip.Data.Mimic;
using MedClip.Data.Synthetic;

namespace MedClip.Tests.Data.Mimic;

public sealed class MimicCxrReaderTests : IDisposable
{
    private const int Studies = 30;
    private readonly string _root = Directory.CreateTempSubdirectory("medclip-mimic-").FullName;

    public MimicCxrReaderTests() => SyntheticChestXrayGenerator.Generate(_root, Studies, 64, seed: 4);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string TablePath(string table) => Path.Combine(_root, table);

    [Fact]
    public void GeneratedDataset_ReadsBackWithReportsLabelsAndSplits()
    {
        RawDataset dataset = MimicCxrReader.Read(_root, new DatasetOptions { Uncertain = UncertainLabelPolicy.KeepName });

        Assert.Equal(Studies, dataset.Samples.Count);
        Assert.Equal(Studies, dataset.Summary.Kept);
        Assert.Empty(dataset.Summary.Skipped);
        CsvTable chexpert = CsvTable.Read(TablePath(MimicCxrLayout.ChexpertTable));
        CsvTable splits = CsvTable.Read(TablePath(MimicCxrLayout.SplitTable));
        foreach (ImageTextSample sample in dataset.Samples)
        {
            Assert.True(File.Exists(sample.ImagePath));
            Assert.Equal(sample.DicomId + ".jpg", Path.GetFileName(sample.ImagePath));
            Assert.Equal(File.ReadAllText(Path.Combine(_root, MimicCxrLayout.ReportPath(sample.SubjectId, sample.StudyId))), sample.Text);
            Assert.Contains(sample.ViewPosition, MimicCxrReader.FrontalViews);
            Assert.Equal(splits.Rows.Single(row => row[0] == sample.DicomId)[3], sample.Split);

            string[] labelRow = chexpert.Rows.Single(row => row[1] == sample.StudyId);
            Assert.Equal(sample.SubjectId, labelRow[0]);
            Assert.Equal(ChexpertLabels.All.Order(), sample.Labels.Keys.Order());
            for (int i = 0; i < ChexpertLabels.All.Count; i++)
                Assert.Equal(labelRow[i + 2], MimicCxrLayout.FormatLabel(sample.Labels[ChexpertLabels.All[i]]));
        }
        Assert.Contains(dataset.Samples, sample => sample.Labels["No Finding"] == 1f);
        Assert.Contains(dataset.Samples, sample => sample.Labels["No Finding"] is null);
    }

    [Fact]
    public void ReorderedColumns_GzippedTables_AndQuotedCommas_ReadTheSame()
    {
        IReadOnlyList<ImageTextSample> expected = MimicCxrReader.Read(_root).Samples;
        foreach (string table in new[] { MimicCxrLayout.MetadataTable, MimicCxrLayout.SplitTable, MimicCxrLayout.ChexpertTable })
        {
            // Reverse the columns, give the procedure a comma (so it must be quoted), and keep only a gzipped copy.
            CsvTable original = CsvTable.Read(TablePath(table));
            int procedure = original.HasColumn("PerformedProcedureStepDescription") ? original.ColumnIndex("PerformedProcedureStepDescription") : -1;
            string[][] rows = original.Rows.Select(row => row.Select((field, i) => i == procedure ? "CHEST (PA, LAT)" : field).Reverse().ToArray()).ToArray();
            string reordered = TablePath(table + ".tmp");
            CsvWriter.Write(reordered, original.Columns.Reverse().ToArray(), rows);
            using (FileStream source = File.OpenRead(reordered))
            using (var target = new GZipStream(File.Create(TablePath(table + ".gz")), CompressionLevel.Fastest))
                source.CopyTo(target);
            File.Delete(reordered);
            File.Delete(TablePath(table));
        }

        IReadOnlyList<ImageTextSample> actual = MimicCxrReader.Read(_root).Samples;

        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i] with { Labels = actual[i].Labels }, actual[i]);
            Assert.Equal(expected[i].Labels.OrderBy(pair => pair.Key), actual[i].Labels.OrderBy(pair => pair.Key));
        }
    }

    [Fact]
    public void TruncatedGzippedLabelTable_IsAnErrorNamingIt_NotRowsWithoutLabels()
    {
        string plain = TablePath(MimicCxrLayout.ChexpertTable), gzipped = plain + ".gz";
        using (FileStream source = File.OpenRead(plain))
        using (var target = new GZipStream(File.Create(gzipped), CompressionLevel.Optimal))
            source.CopyTo(target);
        File.Delete(plain);
        byte[] whole = File.ReadAllBytes(gzipped);
        File.WriteAllBytes(gzipped, whole[..(whole.Length * 45 / 100)]);

        var error = Assert.Throws<InvalidDataException>(() => MimicCxrReader.Read(_root));

        Assert.Contains(gzipped, error.Message);
        Assert.Contains("truncated or corrupt", error.Message);
    }

    [Fact]
    public void UnusableRows_AreSkippedAndCountedByReason()
    {
        CsvTable metadata = CsvTable.Read(TablePath(MimicCxrLayout.MetadataTable));
        string[][] rows = metadata.Rows.ToArray();
        (string Dicom, string Subject, string Study) Ids(int i) => (rows[i][0], rows[i][1], rows[i][2]);

        File.Delete(Path.Combine(_root, MimicCxrLayout.ImagePath(Ids(0).Subject, Ids(0).Study, Ids(0).Dicom)));
        File.Delete(Path.Combine(_root, MimicCxrLayout.ReportPath(Ids(1).Subject, Ids(1).Study)));
        RewriteTable(MimicCxrLayout.ChexpertTable, table => table.Rows.Where(row => row[1] != Ids(2).Study));
        RewriteTable(MimicCxrLayout.SplitTable, table => table.Rows.Where(row => row[0] != Ids(3).Dicom));
        string[] lateral = [.. rows[4]];
        lateral[0] = "0000000a-0000000b-0000000c-0000000d-0000000e";
        lateral[metadata.ColumnIndex("ViewPosition")] = "LATERAL";
        RewriteTable(MimicCxrLayout.MetadataTable, table => table.Rows.Append(lateral));

        RawDataset dataset = MimicCxrReader.Read(_root);

        Assert.Equal(Studies - 4, dataset.Summary.Kept);
        Assert.Equal(Studies - 4, dataset.Samples.Count);
        Assert.Equal(new Dictionary<string, long>
        {
            [MimicCxrReader.SkippedMissingImage] = 1,
            [MimicCxrReader.SkippedMissingReport] = 1,
            [MimicCxrReader.SkippedNoLabelRow] = 1,
            [MimicCxrReader.SkippedNoSplitRow] = 1,
            [MimicCxrReader.SkippedViewNotKept] = 1,
            // The split row of the image deleted above names an image that is not there.
            [MimicCxrReader.SplitRowWithoutImage] = 1,
        }, dataset.Summary.Skipped);
        Assert.StartsWith($"kept {Studies - 4}, skipped 6 (", dataset.Summary.ToString());
    }

    [Fact]
    public void MissingTable_IsAnErrorNamingTheFolderAndTable()
    {
        File.Delete(TablePath(MimicCxrLayout.SplitTable));

        var error = Assert.Throws<FileNotFoundException>(() => MimicCxrReader.Read(_root));

        Assert.Contains(_root, error.Message);
        Assert.Contains(MimicCxrLayout.SplitTable, error.Message);
    }

    [Fact]
    public void UnparsableAndMissingLabels_SkipTheirStudies_AndTheRunGoesOn()
    {
        CsvTable chexpert = CsvTable.Read(TablePath(MimicCxrLayout.ChexpertTable));
        string badStudy = chexpert.Rows[0][1], shortStudy = chexpert.Rows[1][1];
        // Row 0 has "yes" for a label; row 1 lost its last field (written by hand, as CsvWriter refuses short rows).
        string[][] rows = chexpert.Rows.Select((row, i) => i == 0 ? [row[0], row[1], "yes", .. row[3..]] : row).ToArray();
        var lines = new List<string> { string.Join(',', chexpert.Columns.Select(Quote)) };
        lines.AddRange(rows.Select((row, i) => string.Join(',', (i == 1 ? row[..^1] : row).Select(Quote))));
        File.WriteAllLines(TablePath(MimicCxrLayout.ChexpertTable), lines);

        RawDataset dataset = MimicCxrReader.Read(_root);

        Assert.DoesNotContain(dataset.Samples, s => s.StudyId == badStudy || s.StudyId == shortStudy);
        Assert.Equal(Studies - 2, dataset.Samples.Count);
        Assert.Equal(1, dataset.Summary.Skipped[MimicCxrReader.SkippedBadLabel]);
        Assert.Equal(1, dataset.Summary.Skipped[MimicCxrReader.SkippedMalformedRow]);
        Assert.Equal(1, dataset.Summary.Skipped[MimicCxrReader.SkippedNoLabelRow]);
    }

    [Fact]
    public void ExtraColumns_AreIgnored()
    {
        IReadOnlyList<ImageTextSample> expected = MimicCxrReader.Read(_root).Samples;
        foreach (string table in new[] { MimicCxrLayout.MetadataTable, MimicCxrLayout.SplitTable, MimicCxrLayout.ChexpertTable })
        {
            CsvTable original = CsvTable.Read(TablePath(table));
            CsvWriter.Write(TablePath(table), ["note", .. original.Columns, "extra"], original.Rows.Select(row => (string[])["x, y", .. row, "1"]).ToArray());
        }

        IReadOnlyList<ImageTextSample> actual = MimicCxrReader.Read(_root).Samples;

        Assert.Equal(expected.Select(s => (s.DicomId, s.Text, s.Split)), actual.Select(s => (s.DicomId, s.Text, s.Split)));
    }

    [Fact]
    public void DuplicateIds_AreSkippedAndCounted()
    {
        CsvTable metadata = CsvTable.Read(TablePath(MimicCxrLayout.MetadataTable));
        string duplicatedDicom = metadata.Rows[0][metadata.ColumnIndex("dicom_id")];
        RewriteTable(MimicCxrLayout.MetadataTable, table => table.Rows.Append(table.Rows[0]));
        CsvTable chexpert = CsvTable.Read(TablePath(MimicCxrLayout.ChexpertTable));
        string duplicatedStudy = chexpert.Rows[3][1];
        RewriteTable(MimicCxrLayout.ChexpertTable, table => table.Rows.Append(table.Rows[3]));

        RawDataset dataset = MimicCxrReader.Read(_root);

        Assert.Single(dataset.Samples, s => s.DicomId == duplicatedDicom);
        Assert.DoesNotContain(dataset.Samples, s => s.StudyId == duplicatedStudy);
        Assert.Equal(1, dataset.Summary.Skipped[MimicCxrReader.SkippedDuplicateDicom]);
        Assert.Equal(1, dataset.Summary.Skipped[MimicCxrReader.SkippedDuplicateStudy]);
        Assert.Equal(Studies - 1, dataset.Samples.Count);
    }

    [Fact]
    public void SplitRowsNamingNoImage_AreCounted()
    {
        RewriteTable(MimicCxrLayout.SplitTable, table => table.Rows.Append(["deadbeef-0", "59999999", "19999999", "train"]));

        RawDataset dataset = MimicCxrReader.Read(_root);

        Assert.Equal(Studies, dataset.Samples.Count);
        Assert.Equal(new Dictionary<string, long> { [MimicCxrReader.SplitRowWithoutImage] = 1 }, dataset.Summary.Skipped);
    }

    [Fact]
    public void NonUtf8AndEmptyAndSectionlessReports_AreSkippedByReason()
    {
        ImageTextSample[] samples = [.. MimicCxrReader.Read(_root).Samples.Take(3)];
        string Report(ImageTextSample s) => Path.Combine(_root, MimicCxrLayout.ReportPath(s.SubjectId, s.StudyId));
        File.WriteAllBytes(Report(samples[0]), [.. "FINDINGS: effusion "u8, 0xE9, 0xFF, .. "\n"u8]);
        File.WriteAllText(Report(samples[1]), "");
        File.WriteAllText(Report(samples[2]), "FINAL REPORT\n INDICATION: Cough.\n");

        LoadedDataset data = LoadedDataset.FromReports(MimicCxrReader.Read(_root));

        Assert.Equal(Studies - 3, data.Train.Count + data.Validation.Count + data.Test.Count);
        Assert.Equal(Studies - 3, data.Summary.Kept);
        Assert.Equal(1, data.Summary.Skipped[MimicCxrReader.SkippedReportNotUtf8]);
        Assert.Equal(1, data.Summary.Skipped["report empty"]);
        Assert.Equal(1, data.Summary.Skipped["report without the wanted sections"]);
    }

    [Fact]
    public void ReportsFolder_ViewsAndSections_AreHonoured()
    {
        string reports = Directory.CreateTempSubdirectory("medclip-reports-").FullName;
        try
        {
            foreach (string report in Directory.EnumerateFiles(Path.Combine(_root, "files"), "*.txt", SearchOption.AllDirectories))
            {
                string target = Path.Combine(reports, Path.GetRelativePath(_root, report));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.WriteAllText(target, "FINAL REPORT\n FINDINGS: Heart normal.\n \n IMPRESSION: No effusion.\n");
                File.Delete(report);
            }

            var findingsOnly = new DatasetOptions { ReportsDirectory = reports, Sections = ["findings"] };
            LoadedDataset data = LoadedDataset.FromReports(MimicCxrReader.Read(_root, findingsOnly), findingsOnly.Sections);
            Assert.Equal(Studies, data.Summary.Kept);
            Assert.All(data.Train, s => Assert.Equal("Heart normal.", s.Text));

            Assert.Equal(Studies, MimicCxrReader.Read(_root, findingsOnly with { Views = ["PA"] }).Summary.Skipped.GetValueOrDefault(MimicCxrReader.SkippedViewNotKept)
                + MimicCxrReader.Read(_root, findingsOnly with { Views = ["AP"] }).Summary.Skipped.GetValueOrDefault(MimicCxrReader.SkippedViewNotKept));
            Assert.Equal(Studies, MimicCxrReader.Read(_root, findingsOnly with { Views = [] }).Samples.Count);
        }
        finally
        {
            Directory.Delete(reports, recursive: true);
        }
    }

    [Fact]
    public void NegbioTable_AndUncertainPolicy_ShapeTheLabels()
    {
        CsvTable chexpert = CsvTable.Read(TablePath(MimicCxrLayout.ChexpertTable));
        int edema = chexpert.ColumnIndex("Edema"), cardiomegaly = chexpert.ColumnIndex("Cardiomegaly"), fracture = chexpert.ColumnIndex("Fracture");
        // The NegBio copy marks every study uncertain for three labels.
        CsvWriter.Write(TablePath(MimicCxrLayout.NegbioTable), chexpert.Columns,
            chexpert.Rows.Select(row => row.Select((field, i) => i == edema || i == cardiomegaly || i == fracture ? "-1.0" : field).ToArray()).ToArray());

        var gloria = MimicCxrReader.Read(_root, new DatasetOptions { Labels = MimicCxrLayout.NegbioSource }).Samples;
        Assert.All(gloria, s => Assert.Equal(((float?)1f, (float?)0f, (float?)-1f), (s.Labels["Edema"], s.Labels["Cardiomegaly"], s.Labels["Fracture"])));

        var custom = MimicCxrReader.Read(_root, new DatasetOptions { Labels = MimicCxrLayout.NegbioSource, Uncertain = "zeros,Fracture=ones" }).Samples;
        Assert.All(custom, s => Assert.Equal(((float?)0f, (float?)0f, (float?)1f), (s.Labels["Edema"], s.Labels["Cardiomegaly"], s.Labels["Fracture"])));

        Assert.Throws<ArgumentException>(() => UncertainLabelPolicy.Parse("ones,Heart=zeros"));
        Assert.Throws<ArgumentException>(() => UncertainLabelPolicy.Parse("maybe"));
    }

    private static string Quote(string field) => field.Contains(',') ? $"\"{field}\"" : field;

    private void RewriteTable(string table, Func<CsvTable, IEnumerable<string[]>> rows)
    {
        CsvTable original = CsvTable.Read(TablePath(table));
        CsvWriter.Write(TablePath(table), original.Columns, rows(original).ToArray());
    }
}
