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
        MimicCxrDataset dataset = MimicCxrReader.Read(_root);

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

        MimicCxrDataset dataset = MimicCxrReader.Read(_root);

        Assert.Equal(Studies - 4, dataset.Summary.Kept);
        Assert.Equal(Studies - 4, dataset.Samples.Count);
        Assert.Equal(new Dictionary<string, int>
        {
            [MimicCxrReader.SkippedMissingImage] = 1,
            [MimicCxrReader.SkippedMissingReport] = 1,
            [MimicCxrReader.SkippedNoLabelRow] = 1,
            [MimicCxrReader.SkippedNoSplitRow] = 1,
            [MimicCxrReader.SkippedNotFrontal] = 1,
        }, dataset.Summary.Skipped);
        Assert.StartsWith($"kept {Studies - 4}, skipped 5 (", dataset.Summary.ToString());
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
    public void UnknownLabelValue_IsAnErrorNamingTheTable()
    {
        RewriteTable(MimicCxrLayout.ChexpertTable, table => table.Rows.Select((row, i) => i == 0 ? [row[0], row[1], "yes", .. row[3..]] : row));

        var error = Assert.Throws<InvalidDataException>(() => MimicCxrReader.Read(_root));

        Assert.Contains(MimicCxrLayout.ChexpertTable, error.Message);
        Assert.Contains("'yes'", error.Message);
    }

    private void RewriteTable(string table, Func<CsvTable, IEnumerable<string[]>> rows)
    {
        CsvTable original = CsvTable.Read(TablePath(table));
        CsvWriter.Write(TablePath(table), original.Columns, rows(original).ToArray());
    }
}
