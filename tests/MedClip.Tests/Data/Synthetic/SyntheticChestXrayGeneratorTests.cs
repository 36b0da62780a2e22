using System.Diagnostics;
using System.Text.RegularExpressions;
using MedClip.Data;
using MedClip.Data.Mimic;
using MedClip.Data.Synthetic;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace MedClip.Tests.Data.Synthetic;

public sealed class SyntheticChestXrayGeneratorTests(SyntheticDatasetFixture data) : IClassFixture<SyntheticDatasetFixture>
{
    [Fact]
    public void SameSeed_WritesIdenticalBytes_AndAnotherSeedDifferentOnes()
    {
        string first = Directory.CreateTempSubdirectory("medclip-synth-a-").FullName;
        string second = Directory.CreateTempSubdirectory("medclip-synth-b-").FullName;
        string other = Directory.CreateTempSubdirectory("medclip-synth-c-").FullName;
        try
        {
            SyntheticChestXrayGenerator.Generate(first, 24, 64, seed: 11);
            SyntheticChestXrayGenerator.Generate(second, 24, 64, seed: 11);
            SyntheticChestXrayGenerator.Generate(other, 24, 64, seed: 12);

            Dictionary<string, byte[]> a = ReadAll(first), b = ReadAll(second), c = ReadAll(other);
            Assert.Equal(a.Keys.Order(), b.Keys.Order());
            foreach ((string path, byte[] bytes) in a)
                Assert.True(bytes.AsSpan().SequenceEqual(b[path]), $"{path} differs between two runs with the same seed.");
            Assert.NotEqual(
                File.ReadAllText(Path.Combine(first, MimicCxrLayout.ChexpertTable)),
                File.ReadAllText(Path.Combine(other, MimicCxrLayout.ChexpertTable)));
            Assert.DoesNotContain(a.Keys, path => path.EndsWith(".jpg") && c.ContainsKey(path));
        }
        finally
        {
            foreach (string folder in new[] { first, second, other })
                Directory.Delete(folder, recursive: true);
        }
    }

    private static Dictionary<string, byte[]> ReadAll(string root) =>
        Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .ToDictionary(path => Path.GetRelativePath(root, path), File.ReadAllBytes);

    [Fact]
    public void Tables_HaveMimicColumnsAndValues()
    {
        Assert.Equal(
            "dicom_id,subject_id,study_id,PerformedProcedureStepDescription,ViewPosition,Rows,Columns,StudyDate,StudyTime," +
            "ProcedureCodeSequence_CodeMeaning,ViewCodeSequence_CodeMeaning,PatientOrientationCodeSequence_CodeMeaning",
            string.Join(',', data.Metadata.Columns));
        Assert.Equal("dicom_id,study_id,subject_id,split", string.Join(',', data.Splits.Columns));
        Assert.Equal(
            "subject_id,study_id,Atelectasis,Cardiomegaly,Consolidation,Edema,Enlarged Cardiomediastinum,Fracture,Lung Lesion," +
            "Lung Opacity,No Finding,Pleural Effusion,Pleural Other,Pneumonia,Pneumothorax,Support Devices",
            string.Join(',', data.Chexpert.Columns));

        Assert.Equal(SyntheticDatasetFixture.Studies, data.Metadata.Rows.Count);
        Assert.Equal(SyntheticDatasetFixture.Studies, data.Splits.Rows.Count);
        Assert.Equal(SyntheticDatasetFixture.Studies, data.Chexpert.Rows.Count);
        foreach (string[] row in data.Metadata.Rows)
        {
            Assert.Contains(row[4], new[] { "PA", "AP" });
            Assert.Equal("64", row[5]);
            Assert.Equal("64", row[6]);
            Assert.Matches(@"^2[12]\d{6}$", row[7]);
            Assert.Matches(@"^\d{6}\.\d{3}$", row[8]);
            Assert.Equal(row[4] == "PA" ? "postero-anterior" : "antero-posterior", row[10]);
        }
        foreach (string[] row in data.Chexpert.Rows)
            foreach (string value in row.Skip(2))
                Assert.Contains(value, new[] { "1.0", "0.0", "-1.0", "" });
    }

    [Fact]
    public void Splits_AreByPatient_AboutEightyTenTen()
    {
        int subject = data.Splits.ColumnIndex("subject_id"), split = data.Splits.ColumnIndex("split");
        var splitsBySubject = data.Splits.Rows.GroupBy(row => row[subject]).ToDictionary(g => g.Key, g => g.Select(row => row[split]).Distinct().ToArray());
        Assert.All(splitsBySubject.Values, splits => Assert.Single(splits));
        Assert.Contains(data.Splits.Rows.GroupBy(row => row[subject]), group => group.Count() > 1);

        var counts = data.Splits.Rows.GroupBy(row => row[split]).ToDictionary(g => g.Key, g => g.Count() / (double)data.Splits.Rows.Count);
        Assert.Equal(["test", "train", "validate"], counts.Keys.Order());
        Assert.InRange(counts["train"], 0.7, 0.9);
        Assert.InRange(counts["validate"], 0.04, 0.16);
        Assert.InRange(counts["test"], 0.04, 0.16);
    }

    [Fact]
    public void Files_FollowTheMimicCxrJpgLayout_AsGrayscaleJpegs()
    {
        string[] images = Directory.EnumerateFiles(Path.Combine(data.Root, "files"), "*.jpg", SearchOption.AllDirectories).ToArray();
        string[] reports = Directory.EnumerateFiles(Path.Combine(data.Root, "files"), "*.txt", SearchOption.AllDirectories).ToArray();
        Assert.Equal(SyntheticDatasetFixture.Studies, images.Length);
        Assert.Equal(SyntheticDatasetFixture.Studies, reports.Length);
        foreach (string image in images)
        {
            string relative = Path.GetRelativePath(data.Root, image).Replace('\\', '/');
            Match match = Regex.Match(relative, @"^files/p(\d\d)/p(\d{8})/s(5\d{7})/[0-9a-f]{8}(-[0-9a-f]{8}){4}\.jpg$");
            Assert.True(match.Success, relative);
            Assert.Equal(match.Groups[1].Value, match.Groups[2].Value[..2]);
            Assert.True(File.Exists(Path.Combine(data.Root, "files", "p" + match.Groups[1].Value, "p" + match.Groups[2].Value, "s" + match.Groups[3].Value + ".txt")));
        }

        IImageInfo info = Image.Identify(images[0]);
        Assert.Equal(64, info.Width);
        Assert.Equal(64, info.Height);
        Assert.Equal(8, info.PixelType.BitsPerPixel);
    }

    [Fact]
    public void Reports_ReadLikeMimic()
    {
        string[] reports = data.StudyRows().Select(row => row.Report).ToArray();
        foreach (string report in reports)
        {
            Assert.StartsWith(new string(' ', 33) + "FINAL REPORT\n", report);
            Assert.Contains(" EXAMINATION:  CHEST (", report);
            Assert.Contains(" COMPARISON:  ", report);
            Assert.Contains("___", report);
            Assert.True(report.Contains(" FINDINGS:") || report.Contains(" IMPRESSION:"));
            Assert.All(report.Split('\n'), line => Assert.True(line.Length <= 80, line));
        }
        Assert.Contains(reports, report => report.Contains(" FINDINGS:") && report.Contains(" IMPRESSION:"));
        Assert.Contains(reports, report => !report.Contains(" FINDINGS:"));
        Assert.True(reports.Distinct().Count() > reports.Length * 0.9, "Reports should rarely repeat word for word.");
    }

    /// <summary>Words that name each observation, and the cues that negate or hedge a sentence, as a reader of the report would use them.</summary>
    private static readonly Dictionary<string, string[]> Keywords = new()
    {
        ["Atelectasis"] = ["atelectasis"],
        ["Cardiomegaly"] = ["cardiomegaly", "heart", "cardiac silhouette"],
        ["Consolidation"] = ["consolidation"],
        ["Edema"] = ["edema"],
        ["Pleural Effusion"] = ["effusion", "pleural fluid", "fluid in"],
        ["Pneumothorax"] = ["pneumothorax"],
        ["Lung Lesion"] = ["nodule", "nodular", "mass"],
    };

    private static readonly Regex Negation = new(@"\b(no|not|without)\b|normal", RegexOptions.IgnoreCase);
    private static readonly Regex Uncertainty = new("possible|cannot be excluded|may represent|questionable|borderline", RegexOptions.IgnoreCase);

    [Fact]
    public void Labels_AgreeWithWhatTheReportSays()
    {
        var seen = new HashSet<(string Label, string Value)>();
        foreach ((_, string study, Dictionary<string, string> labels, string report, _) in data.StudyRows())
        {
            string body = Regex.Replace(report[report.IndexOf(':', report.IndexOf(report.Contains(" FINDINGS:") ? " FINDINGS:" : " IMPRESSION:"))..], @"\s+", " ");
            string[] sentences = Regex.Split(body, @"(?<=[.;])\s+");
            foreach ((string label, string[] words) in Keywords)
            {
                string[] mentions = sentences.Where(s => words.Any(w => s.Contains(w, StringComparison.OrdinalIgnoreCase))).ToArray();
                string[] voices = mentions.Select(s => Uncertainty.IsMatch(s) ? "-1.0" : Negation.IsMatch(s) ? "0.0" : "1.0").Distinct().ToArray();
                string value = labels[label];
                if (value == "")
                    Assert.True(mentions.Length == 0, $"Study {study}: {label} is blank but the report says: {string.Join(" | ", mentions)}");
                else
                    Assert.True(voices.SequenceEqual([value]), $"Study {study}: {label} is {value} but the report says: {string.Join(" | ", mentions)}");
                seen.Add((label, value));
            }
        }
        foreach (string label in ChexpertLabels.Competition.Append("Pneumothorax"))
            foreach (string value in new[] { "1.0", "0.0", "-1.0", "" })
                Assert.Contains((label, value), seen);
    }

    [Fact]
    public void NoFinding_IsSetExactlyWhenNothingButDevicesIsPositiveOrUncertain()
    {
        foreach ((_, string study, Dictionary<string, string> labels, _, _) in data.StudyRows())
        {
            bool anything = ChexpertLabels.All.Except(["No Finding", "Support Devices"]).Any(label => labels[label] is "1.0" or "-1.0");
            Assert.True(labels["No Finding"] == (anything ? "" : "1.0"), $"Study {study} has No Finding '{labels["No Finding"]}'.");
        }
    }

    [Fact]
    public void EachFinding_IsPositiveInAboutOneStudyInFive()
    {
        foreach (string label in ChexpertLabels.Competition.Concat(["Pneumothorax", "Lung Lesion", "Support Devices"]))
            Assert.InRange(data.Summary.PositiveStudiesByLabel[label] / (double)SyntheticDatasetFixture.Studies, 0.08, 0.32);
        Assert.InRange(data.Summary.PositiveStudiesByLabel["No Finding"] / (double)SyntheticDatasetFixture.Studies, 0.1, 0.4);
    }

    [Fact]
    public void Effusion_BrightensTheLowerLungZones()
    {
        // Mean over both lower zones minus both mid zones, so exposure differences between films cancel.
        (double positive, double negative) = CompareGroups("Pleural Effusion", pixels =>
            Zone(pixels, 0.62, 0.78, 0.12, 0.40) + Zone(pixels, 0.62, 0.78, 0.60, 0.88)
            - Zone(pixels, 0.30, 0.50, 0.12, 0.40) - Zone(pixels, 0.30, 0.50, 0.60, 0.88));
        Assert.True(positive - negative > 15, $"lower-zone brightness {positive:0.0} with effusion vs {negative:0.0} without");
    }

    [Fact]
    public void Effusion_IsOnTheSideTheReportNames_ThePatientsRightOnTheImagesLeft()
    {
        var differenceBySide = new Dictionary<string, List<double>> { ["right"] = [], ["left"] = [] };
        foreach ((_, _, Dictionary<string, string> labels, string report, string imagePath) in data.StudyRows())
        {
            if (labels["Pleural Effusion"] != "1.0")
                continue;
            string[] sides = Regex.Split(Regex.Replace(report, @"\s+", " "), @"(?<=\.)\s+")
                .Where(sentence => sentence.Contains("effusion") || sentence.Contains("fluid"))
                .SelectMany(sentence => new[] { "right", "left", "bilateral", "both" }.Where(sentence.Contains))
                .Distinct().ToArray();
            if (sides is not ["right"] and not ["left"])
                continue;
            byte[] pixels = Decode(imagePath);
            differenceBySide[sides[0]].Add(Zone(pixels, 0.62, 0.80, 0.12, 0.40) - Zone(pixels, 0.62, 0.80, 0.60, 0.88));
        }
        Assert.All(differenceBySide.Values, differences => Assert.True(differences.Count >= 10));
        double right = differenceBySide["right"].Average(), left = differenceBySide["left"].Average();
        Assert.True(right - left > 20, $"image-left minus image-right lower-zone brightness: {right:0.0} for right effusions, {left:0.0} for left ones");
    }

    [Fact]
    public void Cardiomegaly_WidensTheHeartPastHalfTheChest()
    {
        // Left of a normal heart's border (the image's right) there is lung; an enlarged heart covers it.
        (double positive, double negative) = CompareGroups("Cardiomegaly", pixels => Zone(pixels, 0.50, 0.70, 0.66, 0.78));
        Assert.True(positive - negative > 50, $"brightness beside the heart {positive:0.0} with cardiomegaly vs {negative:0.0} without");
    }

    [Fact]
    public void Edema_BrightensThePerihilarLungs()
    {
        (double positive, double negative) = CompareGroups("Edema", pixels =>
            Zone(pixels, 0.35, 0.60, 0.25, 0.40) + Zone(pixels, 0.35, 0.60, 0.60, 0.75) - 2 * Zone(pixels, 0.80, 0.95, 0.30, 0.70));
        Assert.True(positive - negative > 40, $"perihilar brightness {positive:0.0} with edema vs {negative:0.0} without");
    }

    /// <summary>Mean of a measure over the decoded images of studies positive for the label, and of those negated or not mentioned.</summary>
    private (double Positive, double Negative) CompareGroups(string label, Func<byte[], double> measure)
    {
        var positive = new List<double>();
        var negative = new List<double>();
        foreach ((_, _, Dictionary<string, string> labels, _, string imagePath) in data.StudyRows())
        {
            if (labels[label] == "-1.0")
                continue;
            (labels[label] == "1.0" ? positive : negative).Add(measure(Decode(imagePath)));
        }
        Assert.True(positive.Count >= 20 && negative.Count >= 20);
        return (positive.Average(), negative.Average());
    }

    private static byte[] Decode(string imagePath)
    {
        using Image<L8> image = Image.Load<L8>(imagePath);
        var pixels = new byte[image.Width * image.Height];
        image.CopyPixelDataTo(pixels);
        return pixels;
    }

    /// <summary>Mean gray level (0-255) of a 64x64 image over rows and columns given as fractions of its side.</summary>
    private static double Zone(byte[] pixels, double top, double bottom, double left, double right)
    {
        const int size = SyntheticDatasetFixture.ImageSize;
        double sum = 0;
        int count = 0;
        for (int row = (int)(top * size); row < (int)(bottom * size); row++)
            for (int column = (int)(left * size); column < (int)(right * size); column++, count++)
                sum += pixels[row * size + column];
        return sum / count;
    }

    [Fact]
    public void HundredStudies_TakeSecondsNotMinutes()
    {
        // About half a second of CPU on two idle cores; the bound is loose because tests share busy machines.
        string folder = Directory.CreateTempSubdirectory("medclip-synth-speed-").FullName;
        try
        {
            var clock = Stopwatch.StartNew();
            SyntheticChestXrayGenerator.Generate(folder, 100, 64, seed: 1);
            Assert.True(clock.Elapsed.TotalSeconds < 60, $"100 studies took {clock.Elapsed.TotalSeconds:0.0} s.");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void NonEmptyOutputFolder_IsRefusedWithAClearMessage()
    {
        var error = Assert.Throws<IOException>(() => SyntheticChestXrayGenerator.Generate(data.Root, 1, 64, seed: 0));
        Assert.Contains(data.Root, error.Message);
        Assert.Contains("not empty", error.Message);
    }
}
