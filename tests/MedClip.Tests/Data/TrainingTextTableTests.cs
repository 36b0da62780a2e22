using MedClip.Data;
using MedClip.Data.Mimic;
using MedClip.Data.Synthetic;
using MedClip.Data.Text;
using MedClip.Tests.Data.Images;
using MedClip.Tests.Distributed;

namespace MedClip.Tests.Data;

/// <summary>The table of what the model reads (medclip-train texts), in process and through the console.</summary>
public sealed class TrainingTextTableTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("medclip-texts-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static string FixtureReport(string subject, string study) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "Text", "mimic-reports", "files", "p" + subject[..2], "p" + subject, "s" + study + ".txt"));

    private static ImageTextSample Image(string subject, string study, string dicom, string split, float? edema) =>
        new($"/images/{dicom}.jpg", FixtureReport(subject, study), split, subject, study, dicom, "PA",
            ChexpertLabels.All.ToDictionary(label => label, label => label == "Edema" ? edema : null));

    [Fact]
    public void Reports_OneRowPerStudy_WithTheOfficialSectionsAndTheChosenText()
    {
        var raw = new RawDataset(
        [
            Image("10000057", "50000057", "d1", "train", 1f),
            Image("10000057", "50000057", "d2", "train", 1f),
            Image("11851243", "50913680", "d3", "test", null),
            Image("10000047", "50000047", "d4", "validate", 0f),
        ], new LoadSummary());

        (IReadOnlyList<string> columns, List<string[]> rows) = TrainingTextTable.Build(raw, TrainingText.Report(null, mimicStudyRules: true));
        Dictionary<string, string> Row(string study) =>
            columns.Zip(rows.Single(row => row[0] == study)).ToDictionary(pair => pair.First, pair => pair.Second);

        Assert.Equal(["study_id", "subject_id", "split", "images", .. ChexpertLabels.All, "impression", "findings", "last_paragraph", "comparison",
            "final", "text", "skipped"], columns);
        Assert.Equal(3, rows.Count);
        Dictionary<string, string> withAddendum = Row("50000057");
        Assert.Equal(("train", "2", "1.0", "", "___"), (withAddendum["split"], withAddendum["images"], withAddendum["Edema"], withAddendum["impression"], withAddendum["comparison"]));
        Assert.StartsWith("PA and lateral views of the chest provided.", withAddendum["findings"]);
        Assert.Equal(withAddendum["findings"], withAddendum["final"]);
        Assert.Equal(withAddendum["findings"] + " A small left apical pneumothorax is present on the lateral view.", withAddendum["text"]);

        Dictionary<string, string> handMade = Row("50913680");
        Assert.Equal(("", "Nodule in the right upper lobe; chest CT recommended."), (handMade["impression"], handMade["final"]));
        Assert.Equal(handMade["final"], handMade["text"]);

        Dictionary<string, string> none = Row("50000047");
        Assert.Equal(("0.0", "", "", "report without the wanted sections"), (none["Edema"], none["final"], none["text"], none["skipped"]));

        (_, List<string[]> test) = TrainingTextTable.Build(raw, TrainingText.Report(["impression|findings"], mimicStudyRules: true), "test");
        Assert.Equal("50913680", Assert.Single(test)[0]);
        Assert.Equal("report without the wanted sections", test[0][^1]);
    }

    [Fact]
    public void Texts_WritesTheTrainingTextsOfAMimicFolder_AndTheCaptionsOfAManifest()
    {
        string mimic = Path.Combine(_root, "mimic");
        SyntheticChestXrayGenerator.Generate(mimic, studies: 16, imageSize: 64, seed: 5);
        string csv = Path.Combine(_root, "texts.csv");

        var (exit, output, _) = MpirunTraining.Run(MpirunTraining.Dotnet,
            [MpirunTraining.Cli, "texts", "--data", $"mimic:{mimic}", "--sections", "impression|findings", "--split", "train", "--out", csv], TimeSpan.FromMinutes(2));

        Assert.True(exit == 0, output);
        CsvTable table = CsvTable.Read(csv);
        List<ImageTextSample> train = MimicCxrReader.Read(mimic).Samples.Where(s => s.Split == "train").ToList();
        Assert.Equal(train.Select(s => s.StudyId).Distinct().Count(), table.Rows.Count);
        foreach (string[] row in table.Rows)
        {
            ImageTextSample sample = train.First(s => s.StudyId == row[table.ColumnIndex("study_id")]);
            Assert.Equal(ReportSectionParser.Parse(sample.Text, ["impression|findings"], sample.StudyId).Text, row[table.ColumnIndex("text")]);
            Assert.Equal("train", row[table.ColumnIndex("split")]);
        }

        string manifest = Path.Combine(_root, "pairs.csv");
        TestImages.WriteJpeg(Path.Combine(_root, "a.jpg"), 16, 16);
        File.WriteAllText(manifest, "image,text,split\na.jpg,\"Chest X-ray,   PA view.\",test\na.jpg,  ,train\n");
        (exit, output, _) = MpirunTraining.Run(MpirunTraining.Dotnet, [MpirunTraining.Cli, "texts", "--data", $"manifest:{manifest}", "--out", csv], TimeSpan.FromMinutes(2));

        Assert.True(exit == 0, output);
        CsvTable captions = CsvTable.Read(csv);
        Assert.Equal(["id", "image", "split", "text", "skipped"], captions.Columns);
        Assert.Equal(["test", "Chest X-ray, PA view.", ""], captions.Rows[0][2..]);
        Assert.Equal(["train", "", TrainingText.SkippedEmptyText], captions.Rows[1][2..]);
    }

    [Fact]
    public void Texts_BadSplitOrMissingOutputFolder_IsOneSentence()
    {
        var (exit, output, _) = MpirunTraining.Run(MpirunTraining.Dotnet,
            [MpirunTraining.Cli, "texts", "--data", "mimic:/nonexistent", "--split", "dev", "--out", Path.Combine(_root, "t.csv")], TimeSpan.FromMinutes(1));
        Assert.Equal(2, exit);
        Assert.Contains("dev", output);

        (exit, output, _) = MpirunTraining.Run(MpirunTraining.Dotnet,
            [MpirunTraining.Cli, "texts", "--data", "mimic:/nonexistent", "--out", Path.Combine(_root, "no", "t.csv")], TimeSpan.FromMinutes(1));
        Assert.Equal(2, exit);
        Assert.Single(output.Trim().Split('\n'));
        Assert.Contains("does not exist", output);
    }
}
