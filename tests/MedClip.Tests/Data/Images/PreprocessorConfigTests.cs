using MedClip.Data.Images;

namespace MedClip.Tests.Data.Images;

public sealed class PreprocessorConfigTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("medclip-preprocessor-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string WriteJson(string json)
    {
        string path = Path.Combine(_folder, PreprocessorConfig.FileName);
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void ViTFile_WithIntegerSize_IsRead()
    {
        PreprocessorConfig config = PreprocessorConfig.Read(WriteJson("""
            {"do_normalize": true, "do_resize": true, "image_mean": [0.5, 0.5, 0.5], "image_processor_type": "ViTImageProcessor",
             "image_std": [0.5, 0.5, 0.5], "resample": 2, "rescale_factor": 0.00392156862745098, "size": 384}
            """));

        Assert.Equal(384, config.ImageSize);
        Assert.Equal([0.5f, 0.5f, 0.5f], config.ImageMean);
        Assert.Equal(PreprocessorConfig.ViTImageProcessor, config.ImageProcessorType);
        Assert.True(config.DoNormalize);
    }

    [Fact]
    public void HeightWidthSize_IsRead_AndMissingStatisticsTakeTheTypeDefaults()
    {
        PreprocessorConfig config = PreprocessorConfig.Read(WriteJson("""
            {"image_processor_type": "ViTImageProcessor", "size": {"height": 224, "width": 224}, "do_normalize": false}
            """));

        Assert.Equal(224, config.ImageSize);
        Assert.Equal(PreprocessorConfig.ImageNetStandardStd, config.ImageStd);
        Assert.False(config.DoNormalize);
    }

    [Fact]
    public void ClipFile_UsesTheCenterCropSize()
    {
        // openai/clip-vit-base-patch32's file: shortest edge 224, then a 224 crop.
        PreprocessorConfig config = PreprocessorConfig.Read(WriteJson("""
            {"crop_size": 224, "do_center_crop": true, "do_normalize": true, "do_resize": true,
             "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": [0.48145466, 0.4578275, 0.40821073],
             "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": {"shortest_edge": 256}}
            """));

        Assert.Equal(224, config.ImageSize);
        Assert.Equal(PreprocessorConfig.ClipImageProcessor, config.ImageProcessorType);
        Assert.Equal(PreprocessorConfig.ClipMean, config.ImageMean);
    }

    [Fact]
    public void WrittenFile_ReadsBackTheSame_AndLeavesNoTemporaryFiles()
    {
        string path = Path.Combine(_folder, PreprocessorConfig.FileName);
        PreprocessorConfig written = PreprocessorConfig.ForClip(64) with { DoNormalize = false };

        written.Write(path);
        written.Write(path);
        PreprocessorConfig read = PreprocessorConfig.Read(path);

        Assert.Equal(64, read.ImageSize);
        Assert.Equal(written.ImageMean, read.ImageMean);
        Assert.Equal(written.ImageStd, read.ImageStd);
        Assert.Equal(written.ImageProcessorType, read.ImageProcessorType);
        Assert.False(read.DoNormalize);
        Assert.Equal([path], Directory.GetFiles(_folder));
    }

    [Theory]
    [InlineData("""{"size": {"height": 224, "width": 192}}""", "square")]
    [InlineData("""{"size": "big"}""", "'size'")]
    [InlineData("""{"size": 224, "image_mean": [0.5, 0.5]}""", "'image_mean'")]
    [InlineData("""{"size": 224, "do_normalize": "yes"}""", "'do_normalize'")]
    [InlineData("""{"size": 224,""", "not valid JSON")]
    public void BadFiles_AreOneSentenceNamingTheFile(string json, string detail)
    {
        string path = WriteJson(json);

        var error = Assert.Throws<InvalidDataException>(() => PreprocessorConfig.Read(path));

        Assert.Contains(path, error.Message);
        Assert.Contains(detail, error.Message);
    }

    [Fact]
    public void MissingFile_SaysWhatIsNeeded()
    {
        var error = Assert.Throws<FileNotFoundException>(() => PreprocessorConfig.Read(Path.Combine(_folder, "nope.json")));
        Assert.Contains("preprocessor_config.json", error.Message);
    }

    [Fact]
    public void DisabledNormalisation_LeavesValuesInZeroToOne()
    {
        var preprocessor = ImagePreprocessor.FromConfig(PreprocessorConfig.ForViT(8) with { DoNormalize = false });
        Assert.Equal([0f, 0f, 0f], preprocessor.Mean);
        Assert.Equal([1f, 1f, 1f], preprocessor.Std);
    }
}
