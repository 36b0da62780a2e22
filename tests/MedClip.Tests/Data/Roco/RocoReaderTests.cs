using MedClip.Data;
using MedClip.Data.Roco;
using MedClip.Tests.Data.Images;

namespace MedClip.Tests.Data.Roco;

public sealed class RocoReaderTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("medclip-roco-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private void WriteSplit(string folder, string captions, params string[] images)
    {
        string radiology = Path.Combine(_root, "data", folder, "radiology");
        Directory.CreateDirectory(Path.Combine(radiology, "images"));
        File.WriteAllText(Path.Combine(radiology, "captions.txt"), captions);
        foreach (string id in images)
            TestImages.WriteJpeg(Path.Combine(_root, "data", RocoReader.ImagePath(folder, id)), 24, 20);
    }

    [Fact]
    public void Captions_AreJoinedToImages_AndBadLinesCountedByReason()
    {
        WriteSplit("train",
            "ROCO_00001\t Computed tomography of the chest showing a nodule.\n" +
            "ROCO_00002\t An image that was never downloaded.\n" +
            "ROCO_00003 a line without its tab\n" +
            "ROCO_00001\t The same id again.\n" +
            "ROCO_00004\t   \n",
            "ROCO_00001", "ROCO_00004");
        WriteSplit("validation", "ROCO_00010\tAxial MRI of the brain.\n", "ROCO_00010");

        LoadedDataset data = DatasetSpec.Parse("roco:" + _root).Load(_root, 32, seed: 0);

        ImageTextSample train = Assert.Single(data.Train);
        Assert.Equal("Computed tomography of the chest showing a nodule.", train.Text);
        Assert.Equal("ROCO_00001", train.StudyId);
        Assert.EndsWith(Path.Combine("train", "radiology", "images", "ROCO_00001.jpg"), train.ImagePath);
        Assert.Equal("Axial MRI of the brain.", Assert.Single(data.Validation).Text);
        Assert.Empty(data.Test);
        Assert.Equal(new Dictionary<string, long>
        {
            [RocoReader.SkippedMissingImage] = 1,
            [RocoReader.SkippedMalformedLine] = 1,
            [RocoReader.SkippedDuplicateId] = 1,
            [LoadedDataset.SkippedEmptyText] = 1,
        }, data.Summary.Skipped);
        Assert.Equal(2, data.Summary.Kept);
    }

    [Fact]
    public void DataFolderItself_IsAccepted_AndAnEmptyFolderIsOneSentence()
    {
        WriteSplit("test", "ROCO_00020\tPlain radiograph of the knee.\n", "ROCO_00020");

        Assert.Single(DatasetSpec.Parse("roco:" + Path.Combine(_root, "data")).Load(_root, 32, seed: 0).Test);
        string empty = Directory.CreateDirectory(Path.Combine(_root, "empty")).FullName;
        var error = Assert.Throws<FileNotFoundException>(() => RocoReader.Read(empty));
        Assert.Contains("captions.txt", error.Message);
    }
}
