using MedClip.Data.Images;

namespace MedClip.Tests.Data.Images;

public sealed class ImageAugmentationTests : IDisposable
{
    private const int Size = 32;
    private readonly string _folder = Directory.CreateTempSubdirectory("medclip-augment-").FullName;
    private readonly ImagePreprocessor _preprocessor = new(Size, PreprocessorConfig.ClipMean, PreprocessorConfig.ClipStd);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private float[] Augmented(string path, ImageAugmentation augmentation, int seed)
    {
        var output = new float[_preprocessor.OutputLength];
        _preprocessor.Preprocess(path, output, augmentation, new Random(seed));
        return output;
    }

    [Fact]
    public void SameSeed_GivesIdenticalPixels_AndOtherSeedsDiffer()
    {
        string path = TestImages.WriteJpeg(Path.Combine(_folder, "xray.jpg"), 80, 64);
        var augmentation = new ImageAugmentation();

        float[] first = Augmented(path, augmentation, 7);
        float[] again = Augmented(path, augmentation, 7);
        float[] other = Augmented(path, augmentation, 8);

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public void Augmentation_ChangesPixels_ButKeepsTheNormalisedRangeAndIdenticalChannels()
    {
        string path = TestImages.WriteJpeg(Path.Combine(_folder, "xray.jpg"), 80, 64);
        var clean = new float[_preprocessor.OutputLength];
        _preprocessor.Preprocess(path, clean);

        float[] augmented = Augmented(path, new ImageAugmentation(), 1);

        int plane = Size * Size;
        Assert.True(augmented.Zip(clean).Count(p => Math.Abs(p.First - p.Second) > 1e-3) > plane);
        for (int c = 0; c < 3; c++)
        {
            float low = -PreprocessorConfig.ClipMean[c] / PreprocessorConfig.ClipStd[c];
            float high = (1 - PreprocessorConfig.ClipMean[c]) / PreprocessorConfig.ClipStd[c];
            Assert.All(augmented.AsSpan(c * plane, plane).ToArray(), v => Assert.InRange(v, low - 1e-5f, high + 1e-5f));
        }
        // All three channels come from the same augmented luminance.
        for (int i = 0; i < plane; i++)
            Assert.Equal((augmented[i] * PreprocessorConfig.ClipStd[0]) + PreprocessorConfig.ClipMean[0],
                (augmented[plane + i] * PreprocessorConfig.ClipStd[1]) + PreprocessorConfig.ClipMean[1], 4);
    }

    [Fact]
    public void WithEveryRangeClosed_TheImageIsUnchanged()
    {
        var identity = new ImageAugmentation
        {
            MinAreaScale = 1, MinAspectRatio = 1, MaxAspectRatio = 1, MaxRotationDegrees = 0, BrightnessJitter = 0, ContrastJitter = 0,
        };
        float[] source = Enumerable.Range(0, 16).Select(i => i / 16f).ToArray();
        var destination = new float[16];

        identity.Apply(source, destination, 4, new Random(5));

        Assert.Equal(source, destination, (a, b) => Math.Abs(a - b) < 1e-6);
    }

    [Fact]
    public void CertainFlip_MirrorsRows()
    {
        var flip = new ImageAugmentation
        {
            MinAreaScale = 1, MinAspectRatio = 1, MaxAspectRatio = 1, MaxRotationDegrees = 0, BrightnessJitter = 0, ContrastJitter = 0,
            HorizontalFlipProbability = 1,
        };
        float[] source = [0.1f, 0.2f, 0.3f, 0.4f];
        var destination = new float[4];

        flip.Apply(source, destination, 2, new Random(5));

        Assert.Equal([0.2f, 0.1f, 0.4f, 0.3f], destination, (a, b) => Math.Abs(a - b) < 1e-6);
    }

    [Fact]
    public void FlipIsOffByDefault() => Assert.Equal(0, new ImageAugmentation().HorizontalFlipProbability);
}
