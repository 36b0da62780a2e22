using MedClip.Data.Images;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;
using SixLabors.ImageSharp.PixelFormats;

namespace MedClip.Tests.Data.Images;

public sealed class ImagePreprocessorTests : IDisposable
{
    private static readonly float[] Identity = [0f, 0f, 0f], Unit = [1f, 1f, 1f];
    private readonly string _folder = Directory.CreateTempSubdirectory("medclip-images-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string PathOf(string name) => Path.Combine(_folder, name);

    [Fact]
    public void WideImage_IsPaddedTopAndBottomAndNormalisedPerChannel()
    {
        // 4 x 2 with columns 0, 85, 170, 255: at size 4 the image keeps its pixels and sits on rows 1 and 2.
        byte[] columns = [0, 85, 170, 255];
        string path = TestImages.WriteGrayPng(PathOf("wide.png"), 4, 2, (x, _) => columns[x]);
        var preprocessor = new ImagePreprocessor(4, PreprocessorConfig.ClipMean, PreprocessorConfig.ClipStd);
        var output = new float[preprocessor.OutputLength];

        preprocessor.Preprocess(path, output);

        Assert.Equal(48, output.Length);
        for (int c = 0; c < 3; c++)
        {
            float mean = PreprocessorConfig.ClipMean[c], std = PreprocessorConfig.ClipStd[c];
            for (int y = 0; y < 4; y++)
                for (int x = 0; x < 4; x++)
                {
                    float luminance = y is 1 or 2 ? columns[x] / 255f : 0f;
                    Assert.Equal((luminance - mean) / std, output[c * 16 + y * 4 + x], 4);
                }
        }
    }

    [Fact]
    public void TallImage_IsPaddedLeftAndRightAndResized()
    {
        // 16 x 48 white shrinks to 4 x 12 and is centred in 12 x 12: columns 4..7 are white, the rest padding.
        string path = TestImages.WriteGrayPng(PathOf("tall.png"), 16, 48, (_, _) => 255);
        var preprocessor = new ImagePreprocessor(12, Identity, Unit);
        var luminance = new float[12 * 12];

        preprocessor.LoadLuminance(path, luminance);

        for (int y = 0; y < 12; y++)
            for (int x = 0; x < 12; x++)
                Assert.Equal(x is >= 4 and < 8 ? 1f : 0f, luminance[y * 12 + x], 3);
    }

    [Fact]
    public void SmallImage_IsUpscaled()
    {
        // 4 x 2 white doubles to 8 x 4 on rows 2..5 of the 8 x 8 square.
        string path = TestImages.WriteGrayPng(PathOf("small.png"), 4, 2, (_, _) => 255);
        var luminance = new float[8 * 8];

        new ImagePreprocessor(8, Identity, Unit).LoadLuminance(path, luminance);

        for (int y = 0; y < 8; y++)
            Assert.All(luminance.AsSpan(y * 8, 8).ToArray(), v => Assert.Equal(y is >= 2 and < 6 ? 1f : 0f, v, 3));
    }

    [Fact]
    public void ExifOrientation_IsApplied()
    {
        // Stored 4 x 2, but EXIF orientation 6 (rotate 90 degrees clockwise) makes it 2 x 4: padding left and right.
        using (var image = new Image<L8>(4, 2, new L8(255)))
        {
            image.Metadata.ExifProfile = new ExifProfile();
            image.Metadata.ExifProfile.SetValue(ExifTag.Orientation, (ushort)6);
            image.SaveAsJpeg(PathOf("rotated.jpg"));
        }
        var luminance = new float[4 * 4];

        new ImagePreprocessor(4, Identity, Unit).LoadLuminance(PathOf("rotated.jpg"), luminance);

        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++)
                Assert.Equal(x is 1 or 2 ? 1f : 0f, luminance[y * 4 + x], 1);
    }

    [Fact]
    public void SixteenBitPng_KeepsItsPrecision()
    {
        string path = TestImages.WriteGray16Png(PathOf("deep.png"), 2, 2, (x, y) => (ushort)(1000 + 30000 * x + 7 * y));
        var preprocessor = new ImagePreprocessor(2, Identity, Unit);
        var output = new float[preprocessor.OutputLength];

        preprocessor.Preprocess(path, output);

        // 1007 / 65535 and 1000 / 65535 would be the same 8-bit level.
        Assert.Equal(1000 / 65535f, output[0], 6);
        Assert.Equal(31000 / 65535f, output[1], 6);
        Assert.Equal(1007 / 65535f, output[2], 6);
        Assert.Equal(output[..4], output[4..8]);
    }

    [Fact]
    public void ColourImage_BecomesBt709Luminance()
    {
        string path = TestImages.WriteRgbPng(PathOf("red.png"), 3, 3, new Rgb24(255, 0, 0));
        var luminance = new float[9];

        new ImagePreprocessor(3, Identity, Unit).LoadLuminance(path, luminance);

        Assert.All(luminance, v => Assert.Equal(0.2126f, v, 3));
    }

    [Fact]
    public void PngNamedJpg_IsDecodedByItsContent()
    {
        string png = TestImages.WriteGrayPng(PathOf("real.png"), 5, 3, (x, y) => (byte)(40 * x + y));
        File.Copy(png, PathOf("misnamed.jpg"));
        var preprocessor = new ImagePreprocessor(5, PreprocessorConfig.ImageNetMean, PreprocessorConfig.ImageNetStd);
        float[] expected = new float[preprocessor.OutputLength], actual = new float[preprocessor.OutputLength];

        preprocessor.Preprocess(png, expected);
        preprocessor.Preprocess(PathOf("misnamed.jpg"), actual);

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Jpeg_IsDecodedAndResized()
    {
        string path = TestImages.WriteJpeg(PathOf("xray.jpg"), 96, 80);
        var preprocessor = new ImagePreprocessor(32, PreprocessorConfig.ImageNetStandardMean, PreprocessorConfig.ImageNetStandardStd);
        var output = new float[preprocessor.OutputLength];

        preprocessor.Preprocess(path, output);

        Assert.All(output, v => Assert.InRange(v, -1f, 1f));
        Assert.Equal(-1f, output[0]); // top-left corner is padding
        Assert.InRange(output[16 * 32 + 16], -0.5f, 0.9f);
    }

    [Fact]
    public void MissingFile_IsRejectedAsMissing() =>
        AssertRejected(PathOf("absent.jpg"), ImageRejectedException.MissingFile);

    [Fact]
    public void MissingFolder_IsRejectedAsMissing() =>
        AssertRejected(PathOf("no-such-folder/absent.jpg"), ImageRejectedException.MissingFile);

    [Fact]
    public void ZeroByteFile_IsRejectedAsEmpty()
    {
        File.WriteAllBytes(PathOf("empty.jpg"), []);
        AssertRejected(PathOf("empty.jpg"), ImageRejectedException.EmptyFile);
    }

    [Fact]
    public void TextFile_IsRejectedAsUnknownFormat()
    {
        File.WriteAllText(PathOf("notes.jpg"), "not an image at all");
        AssertRejected(PathOf("notes.jpg"), ImageRejectedException.UnknownFormat);
    }

    [Fact]
    public void TruncatedJpeg_IsRejectedAsCorrupt()
    {
        byte[] jpeg = File.ReadAllBytes(TestImages.WriteJpeg(PathOf("whole.jpg"), 64, 64));
        File.WriteAllBytes(PathOf("truncated.jpg"), jpeg[..(jpeg.Length / 2)]);
        AssertRejected(PathOf("truncated.jpg"), ImageRejectedException.CorruptImage);
    }

    [Fact]
    public void TruncatedPng_IsRejectedAsCorrupt()
    {
        byte[] png = File.ReadAllBytes(TestImages.WriteGrayPng(PathOf("whole.png"), 64, 64, (x, y) => (byte)(x * y)));
        File.WriteAllBytes(PathOf("truncated.png"), png[..(png.Length / 2)]);
        AssertRejected(PathOf("truncated.png"), ImageRejectedException.CorruptImage);
    }

    [Fact]
    public void JpegWithPaddingAfterItsEndMarker_IsAccepted()
    {
        byte[] jpeg = File.ReadAllBytes(TestImages.WriteJpeg(PathOf("whole.jpg"), 64, 64));
        File.WriteAllBytes(PathOf("padded.jpg"), [.. jpeg, .. new byte[1000]]);
        var preprocessor = new ImagePreprocessor(8, Identity, Unit);

        preprocessor.Preprocess(PathOf("padded.jpg"), new float[preprocessor.OutputLength]);
    }

    [Fact]
    public void JpegWithGarbageAfterItsHeader_IsRejectedAsCorrupt()
    {
        byte[] jpeg = File.ReadAllBytes(TestImages.WriteJpeg(PathOf("whole.jpg"), 64, 64));
        new Random(3).NextBytes(jpeg.AsSpan(20));
        File.WriteAllBytes(PathOf("garbage.jpg"), jpeg);
        AssertRejected(PathOf("garbage.jpg"), ImageRejectedException.CorruptImage);
    }

    [Fact]
    public void ImageAboveThePixelLimit_IsRejectedBeforeDecoding()
    {
        string path = TestImages.WriteGrayPng(PathOf("big.png"), 100, 80, (_, _) => 9);
        var preprocessor = new ImagePreprocessor(8, Identity, Unit, maxPixels: 7_999);

        var error = Assert.Throws<ImageRejectedException>(() => preprocessor.Preprocess(path, new float[preprocessor.OutputLength]));

        Assert.Equal(ImageRejectedException.TooLarge, error.Reason);
        Assert.Contains("100 x 80", error.Message);
    }

    private static void AssertRejected(string path, string reason)
    {
        var preprocessor = new ImagePreprocessor(8, Identity, Unit);
        var error = Assert.Throws<ImageRejectedException>(() => preprocessor.Preprocess(path, new float[preprocessor.OutputLength]));
        Assert.Equal(reason, error.Reason);
        Assert.Equal(path, error.Path);
        Assert.Contains(path, error.Message);
    }
}
