using BenchmarkDotNet.Attributes;
using MedClip.Data.Images;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.PixelFormats;

namespace MedClip.Benchmarks;

/// <summary>
/// One 512 x 512 grayscale JPEG through the evaluation path (decode, pad, bicubic resize, normalise) and the training
/// path (the same plus augmentation), at the `small`/`base` presets' 224 px and the `tiny` preset's 64 px. A loader
/// worker's throughput is about one image per measured time.
/// </summary>
[MemoryDiagnoser]
public class ImagePipelineBenchmarks
{
    private readonly ImageAugmentation _augmentation = new();
    private string _folder = "";
    private string _jpeg = "";
    private ImagePreprocessor _preprocessor = null!;
    private float[] _pixels = [];

    [Params(224, 64)]
    public int Size { get; set; }

    [GlobalSetup]
    public void WriteJpeg()
    {
        _folder = Directory.CreateTempSubdirectory("medclip-bench-").FullName;
        _jpeg = Path.Combine(_folder, "xray.jpg");
        var rng = new Random(1);
        using (var image = new Image<L8>(512, 512))
        {
            // A smooth pattern with noise, so the JPEG has realistic entropy.
            for (int y = 0; y < 512; y++)
                for (int x = 0; x < 512; x++)
                    image[x, y] = new L8((byte)Math.Clamp(128 + 80 * Math.Sin(x * 0.02) * Math.Cos(y * 0.03) + rng.Next(-15, 16), 0, 255));
            image.Save(_jpeg, new JpegEncoder { Quality = 90 });
        }
        _preprocessor = new ImagePreprocessor(Size, PreprocessorConfig.ClipMean, PreprocessorConfig.ClipStd);
        _pixels = new float[_preprocessor.OutputLength];
    }

    [GlobalCleanup]
    public void DeleteJpeg() => Directory.Delete(_folder, recursive: true);

    [Benchmark(Baseline = true)]
    public float Preprocess()
    {
        _preprocessor.Preprocess(_jpeg, _pixels);
        return _pixels[^1];
    }

    [Benchmark]
    public float PreprocessAndAugment()
    {
        _preprocessor.Preprocess(_jpeg, _pixels, _augmentation, new Random(7));
        return _pixels[^1];
    }
}
