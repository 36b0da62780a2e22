using MedClip.Data;
using MedClip.Data.Manifest;
using MedClip.Tests.Data.Images;

namespace MedClip.Tests.Data.Manifest;

public sealed class ManifestReaderTests : IDisposable
{
    private readonly string _parent = Directory.CreateTempSubdirectory("medclip-manifest-").FullName;
    private readonly string _root;

    public ManifestReaderTests()
    {
        _root = Directory.CreateDirectory(Path.Combine(_parent, "set")).FullName;
        Directory.CreateDirectory(Path.Combine(_root, "img"));
        TestImages.WriteJpeg(Path.Combine(_root, "img", "a.jpg"), 20, 16);
        TestImages.WriteJpeg(Path.Combine(_root, "img", "b.jpg"), 16, 20);
        TestImages.WriteJpeg(Path.Combine(_parent, "outside.jpg"), 16, 16);
    }

    public void Dispose() => Directory.Delete(_parent, recursive: true);

    private static readonly DatasetOptions Columns = new() { ImageColumn = "path", TextColumn = "caption" };

    [Fact]
    public void Csv_ColumnsByNameInAnyOrder_PathsRelativeToTheFile_EscapesRefused()
    {
        string outside = Path.Combine(_parent, "outside.jpg");
        string manifest = Path.Combine(_root, "pairs.csv");
        File.WriteAllText(manifest,
            "extra,caption,split,path\n" +
            "1,\"Chest X-ray, PA view.\",train,img/a.jpg\n" +
            "2,Lateral view.,test,./img/../img/b.jpg\n" +
            "3,Climbs out.,train,../outside.jpg\n" +
            $"4,Absolute.,train,{outside}\n" +
            "5,Not there.,train,img/c.jpg\n" +
            "6,Odd split.,dev,img/a.jpg\n" +
            "7,A short row\n");

        LoadedDataset data = DatasetSpec.Parse("manifest:" + manifest).Load(_root, 32, seed: 0, options: Columns);

        ImageTextSample train = Assert.Single(data.Train);
        Assert.Equal(Path.Combine(_root, "img", "a.jpg"), train.ImagePath);
        Assert.Equal("Chest X-ray, PA view.", train.Text);
        Assert.Equal(Path.Combine(_root, "img", "b.jpg"), Assert.Single(data.Test).ImagePath);
        Assert.Equal(new Dictionary<string, long>
        {
            [ManifestReader.SkippedOutsideRoot] = 2,
            [ManifestReader.SkippedMissingImage] = 1,
            [ManifestReader.SkippedUnknownSplit] = 1,
            [ManifestReader.SkippedMalformedRow] = 1,
        }, data.Summary.Skipped);

        RawDataset allowed = ManifestReader.Read(manifest, Columns with { AllowOutsideRoot = true });
        Assert.Contains(allowed.Samples, s => s.ImagePath == outside);
        Assert.Equal(4, allowed.Samples.Count);
    }

    [Fact]
    public void TabSeparated_OpenClipColumns_TheSeparatorIsDetectedFromTheHeader()
    {
        string manifest = Path.Combine(_root, "pairs.tsv");
        File.WriteAllText(manifest, "filepath\ttitle\nimg/a.jpg\tSmall effusion, left.\nimg/b.jpg\tNo acute process.\n");
        var openClip = new DatasetOptions { ImageColumn = "filepath", TextColumn = "title" };

        Assert.Equal('\t', ManifestReader.DetectSeparator(manifest, "filepath"));
        RawDataset data = ManifestReader.Read(manifest, openClip);
        Assert.Equal(["Small effusion, left.", "No acute process."], data.Samples.Select(s => s.Text));

        // Forced to commas, the header is one column and the error names what was found.
        var error = Assert.Throws<InvalidDataException>(() => ManifestReader.Read(manifest, openClip with { CsvSeparator = ',' }));
        Assert.Contains("no column 'filepath'", error.Message);
    }

    [Fact]
    public void Jsonl_WithoutSplitColumn_IsAllTraining_AndBadLinesAreCounted()
    {
        string manifest = Path.Combine(_root, "pairs.jsonl");
        File.WriteAllLines(manifest,
        [
            """{"image": "img/a.jpg", "text": "Small left effusion.", "id": 7}""",
            """{"image": "img/b.jpg", "text": "  "}""",
            """{"image": "img/b.jpg", "text": "No acute""",
            """["not", "an", "object"]""",
            "",
        ]);

        LoadedDataset data = DatasetSpec.Parse("manifest:" + manifest).Load(_root, 32, seed: 0);

        Assert.Equal("Small left effusion.", Assert.Single(data.Train).Text);
        Assert.Equal(new Dictionary<string, long>
        {
            [ManifestReader.SkippedMalformedRow] = 2,
            [LoadedDataset.SkippedEmptyText] = 1,
        }, data.Summary.Skipped);
    }

    [Fact]
    public void NothingUsable_IsOneClearSentence()
    {
        string manifest = Path.Combine(_root, "gone.csv");
        File.WriteAllText(manifest, "image,text\nimg/x.jpg,Gone.\nimg/y.jpg,Gone too.\n");

        var error = Assert.Throws<InvalidDataException>(() => DatasetSpec.Parse("manifest:" + manifest).Load(_root, 32, seed: 0));

        Assert.Contains("no usable samples", error.Message);
        Assert.Contains("2 missing image", error.Message);
    }

    [Fact]
    public void MissingTextColumn_IsAnErrorNamingTheFile()
    {
        string manifest = Path.Combine(_root, "wrong.csv");
        File.WriteAllText(manifest, "image,report\nimg/a.jpg,Clear.\n");

        var error = Assert.Throws<InvalidDataException>(() => ManifestReader.Read(manifest, new DatasetOptions()));

        Assert.Contains("wrong.csv", error.Message);
        Assert.Contains("'text'", error.Message);
    }

    [Fact]
    public void LabelColumns_AreDetected_WhenEveryValueIsALabel()
    {
        string manifest = Path.Combine(_root, "labels.csv");
        File.WriteAllText(manifest,
            "image,text,Nodule,mass,id,note\n" +
            "img/a.jpg,A nodule.,1,,7,x\n" +
            "img/b.jpg,No nodule.,0.0,-1,8,\n");
        var samples = ManifestReader.Read(manifest, new DatasetOptions()).Samples;
        Assert.Equal(["Nodule", "mass"], samples[0].Labels.Keys);
        Assert.Equal(1f, samples[0].Labels["Nodule"]);
        Assert.Null(samples[0].Labels["mass"]);
        Assert.Equal(0f, samples[1].Labels["Nodule"]);
        Assert.Equal(-1f, samples[1].Labels["mass"]);
    }

    [Fact]
    public void LabelColumns_Declared_AreReadAndChecked()
    {
        string manifest = Path.Combine(_root, "labels.jsonl");
        File.WriteAllLines(manifest,
        [
            """{"image": "img/a.jpg", "text": "A nodule.", "Nodule": 1, "flag": 0}""",
            """{"image": "img/b.jpg", "text": "No nodule.", "Nodule": null, "flag": 1}""",
        ]);
        var samples = ManifestReader.Read(manifest, new DatasetOptions { LabelColumns = ["Nodule"] }).Samples;
        Assert.Equal(["Nodule"], samples[0].Labels.Keys);
        Assert.Null(samples[1].Labels["Nodule"]);

        var missing = Assert.Throws<InvalidDataException>(() => ManifestReader.Read(manifest, new DatasetOptions { LabelColumns = ["Mass"] }));
        Assert.Contains("has no column 'Mass' named by --label-columns", missing.Message);
        var bad = Assert.Throws<InvalidDataException>(() => ManifestReader.Read(manifest, new DatasetOptions { LabelColumns = ["text"] }));
        Assert.Contains("row 1: label column 'text' holds 'A nodule.'; use 1, 0, -1 or blank.", bad.Message);
    }
}
