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
        // fetch.py names an image after its id (since January 2022), or named it after its archive's PMC id and its file name in the archive.
        File.WriteAllText(Path.Combine(radiology, "dlinks.txt"),
            "ROCO_00001\twget -r ftp://ftp.ncbi.nlm.nih.gov/pub/pmc/oa_package/aa/bb/PMC1234.tar.gz -P /tmp\tfig1.jpg\n" +
            "ROCO_00002\twget -r ftp://ftp.ncbi.nlm.nih.gov/pub/pmc/oa_package/cc/dd/PMC5678.tar.gz -P /tmp\tfig2.jpg\n");
        foreach (string fileName in images)
            TestImages.WriteJpeg(Path.Combine(_root, "data", RocoReader.ImagePath(folder, fileName)), 24, 20);
    }

    [Fact]
    public void Captions_AreJoinedToImages_AndBadLinesCountedByReason()
    {
        WriteSplit("train",
            "stray text before any caption\n" +
            "ROCO_00001\t Computed tomography of the chest showing a nodule,\n" +
            "which goes on over a second line.\n" +
            "ROCO_00002\t An image that was never downloaded.\n" +
            "ROCO_00001\t The same id again.\n" +
            "ROCO_00004\t   \n",
            "PMC1234_fig1.jpg", "ROCO_00004.jpg");
        WriteSplit("validation", "ROCO_00010\tAxial MRI of the brain.\n", "ROCO_00010.jpg");

        LoadedDataset data = DatasetSpec.Parse("roco:" + _root).Load(_root, 32, seed: 0);

        ImageTextSample train = Assert.Single(data.Train);
        Assert.Equal("Computed tomography of the chest showing a nodule, which goes on over a second line.", train.Text);
        Assert.Equal("ROCO_00001", train.StudyId);
        Assert.EndsWith(Path.Combine("train", "radiology", "images", "PMC1234_fig1.jpg"), train.ImagePath);
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
        WriteSplit("test", "ROCO_00020\tPlain radiograph of the knee.\n", "ROCO_00020.jpg");

        Assert.Single(DatasetSpec.Parse("roco:" + Path.Combine(_root, "data")).Load(_root, 32, seed: 0).Test);
        string empty = Directory.CreateDirectory(Path.Combine(_root, "empty")).FullName;
        var error = Assert.Throws<FileNotFoundException>(() => RocoReader.Read(empty));
        Assert.Contains("captions.txt", error.Message);
    }
}
