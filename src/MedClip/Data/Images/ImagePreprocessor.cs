using System.Buffers;
using MedClip.Data.Shards;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Memory;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace MedClip.Data.Images;

/// <summary>
/// Turns an image file into the vision tower's input: decode (JPEG, PNG including 16-bit grayscale, and the other
/// formats ImageSharp 2 reads), grayscale luminance (ITU-R BT.709 weights for colour files), pad to a centred square
/// with 0, bicubic resize to <see cref="Size"/> x <see cref="Size"/>, scale to [0, 1], replicate to 3 channels and
/// normalise each channel with (x - mean) / std. The output is CHW, written into the caller's span.
/// A path naming an image in a prep shard (<see cref="ShardImageFile"/>) is read from the shard instead of decoded.
/// Unusable files raise <see cref="ImageRejectedException"/> with a short reason; nothing else a file can contain
/// should escape as another exception. Immutable, so loader workers can share one instance.
/// </summary>
public sealed class ImagePreprocessor
{
    /// <summary>60 megapixels: several times a full-resolution radiograph, and about 120 MB once decoded at 16 bits.</summary>
    public const long DefaultMaxPixels = 60_000_000;

    // One decode per thread: the loader parallelises across images, so ImageSharp's own parallel loops would only
    // oversubscribe the cores.
    private static readonly Configuration SingleThreaded = CreateSingleThreadedConfiguration();

    private readonly float[] _mean;
    private readonly float[] _std;

    public ImagePreprocessor(int size, IReadOnlyList<float> mean, IReadOnlyList<float> std, long maxPixels = DefaultMaxPixels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPixels, 1);
        if (mean.Count != 3 || std.Count != 3)
            throw new ArgumentException($"Normalisation needs 3 means and 3 standard deviations, got {mean.Count} and {std.Count}.");
        if (std.Any(s => !(s > 0)))
            throw new ArgumentException("Every normalisation standard deviation must be positive.", nameof(std));
        Size = size;
        MaxPixels = maxPixels;
        _mean = [.. mean];
        _std = [.. std];
    }

    /// <summary>The preprocessing a checkpoint's preprocessor_config.json describes.</summary>
    public static ImagePreprocessor FromConfig(PreprocessorConfig config, long maxPixels = DefaultMaxPixels) =>
        config.DoNormalize
            ? new ImagePreprocessor(config.ImageSize, config.ImageMean, config.ImageStd, maxPixels)
            : new ImagePreprocessor(config.ImageSize, [0f, 0f, 0f], [1f, 1f, 1f], maxPixels);

    /// <summary>Output height and width in pixels.</summary>
    public int Size { get; }

    /// <summary>Images with more pixels than this are rejected before they are decoded.</summary>
    public long MaxPixels { get; }

    public IReadOnlyList<float> Mean => _mean;
    public IReadOnlyList<float> Std => _std;

    /// <summary>Floats in one preprocessed image: 3 x Size x Size.</summary>
    public int OutputLength => 3 * Size * Size;

    /// <summary>The evaluation path: the image at <paramref name="path"/> as normalised CHW floats in <paramref name="destination"/>.</summary>
    public void Preprocess(string path, Span<float> destination)
    {
        Span<float> channels = CheckedDestination(destination);
        Span<float> luminance = channels[..(Size * Size)];
        LoadLuminance(path, luminance);
        Normalize(luminance, channels);
    }

    /// <summary>The training path: as <see cref="Preprocess(string, Span{float})"/> with <paramref name="augmentation"/> applied before normalising.</summary>
    public void Preprocess(string path, Span<float> destination, ImageAugmentation augmentation, Random rng)
    {
        Span<float> channels = CheckedDestination(destination);
        int plane = Size * Size;
        // The second channel's plane holds the clean image while the augmented one is written into the first.
        Span<float> clean = channels.Slice(plane, plane);
        LoadLuminance(path, clean);
        augmentation.Apply(clean, channels[..plane], Size, rng);
        Normalize(channels[..plane], channels);
    }

    /// <summary>Decodes, squares and resizes the image to Size x Size luminance values in [0, 1], row-major.</summary>
    public void LoadLuminance(string path, Span<float> luminance)
    {
        if (luminance.Length != Size * Size)
            throw new ArgumentException($"The luminance buffer holds {luminance.Length} floats; {Size} x {Size} = {Size * Size} are needed.", nameof(luminance));
        if (ShardImageFile.TryOpen(path, out ShardImageFile? shard, out int index))
        {
            shard!.ReadLuminance(index, luminance, Size);
            return;
        }
        using Image<L16> image = Decode(path);
        // Pad mode scales the longer side to Size and centres the image on a black square: the same as padding to a
        // square first and resizing, except that the image's edge is not blurred into the padding.
        image.Mutate(x => x.AutoOrient().Resize(new ResizeOptions
        {
            Size = new SixLabors.ImageSharp.Size(Size, Size),
            Mode = ResizeMode.Pad,
            Position = AnchorPositionMode.Center,
            PadColor = Color.Black,
            Sampler = KnownResamplers.Bicubic,
        }));
        L16[] pixels = ArrayPool<L16>.Shared.Rent(luminance.Length);
        try
        {
            image.CopyPixelDataTo(pixels.AsSpan(0, luminance.Length));
            for (int i = 0; i < luminance.Length; i++)
                luminance[i] = pixels[i].PackedValue * (1f / ushort.MaxValue);
        }
        finally
        {
            ArrayPool<L16>.Shared.Return(pixels);
        }
    }

    /// <summary>
    /// Writes (luminance - mean[c]) / std[c] into the three channel planes of <paramref name="channels"/>.
    /// <paramref name="luminance"/> may be the first plane itself: it is read before that plane is overwritten.
    /// </summary>
    public void Normalize(ReadOnlySpan<float> luminance, Span<float> channels)
    {
        int plane = Size * Size;
        if (luminance.Length != plane || channels.Length != 3 * plane)
            throw new ArgumentException($"Normalising needs {plane} luminance values and room for {3 * plane} outputs.");
        for (int c = 2; c >= 0; c--)
        {
            float scale = 1f / _std[c], shift = -_mean[c] / _std[c];
            Span<float> output = channels.Slice(c * plane, plane);
            for (int i = 0; i < plane; i++)
                output[i] = luminance[i] * scale + shift;
        }
    }

    private Span<float> CheckedDestination(Span<float> destination) =>
        destination.Length == OutputLength
            ? destination
            : throw new ArgumentException($"The destination holds {destination.Length} floats; 3 x {Size} x {Size} = {OutputLength} are needed.", nameof(destination));

    /// <summary>Opens, identifies and decodes, turning every way a file can be unusable into an <see cref="ImageRejectedException"/>.</summary>
    private Image<L16> Decode(string path)
    {
        // Opening a FIFO blocks until a writer appears, which would hang the loader: such files are skipped unopened.
        if (IO.PosixFileSystem.NotRegularFile(path) is { } kind)
            throw new ImageRejectedException(path, ImageRejectedException.NotRegularFile, $"Image '{path}' is {kind}, not a regular file.");
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ImageRejectedException(path, ImageRejectedException.MissingFile,
                $"Image file '{path}' does not exist; check the dataset's image folder.", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Unreadable(path, e);
        }

        using (stream)
        {
            if (stream.Length == 0)
                throw new ImageRejectedException(path, ImageRejectedException.EmptyFile,
                    $"Image file '{path}' is empty (0 bytes); copy it again or remove it from the dataset.");
            try
            {
                IImageInfo? info = Image.Identify(SingleThreaded, stream, out IImageFormat? format);
                if (info is null || format is null)
                    throw new ImageRejectedException(path, ImageRejectedException.UnknownFormat,
                        $"Image file '{path}' is not in a format MedClip reads (JPEG, PNG, BMP, GIF, TIFF, TGA, WebP, PBM); convert it, DICOM included, to PNG or JPEG.");
                if ((long)info.Width * info.Height > MaxPixels)
                    throw new ImageRejectedException(path, ImageRejectedException.TooLarge,
                        $"Image file '{path}' is {info.Width} x {info.Height} pixels, more than the limit of {MaxPixels:N0}; downscale it first.");
                if (format is JpegFormat && !EndsWithJpegEndMarker(stream))
                    throw new ImageRejectedException(path, ImageRejectedException.CorruptImage,
                        $"Image file '{path}' is a truncated JPEG (no end-of-image marker); copy it again or remove it from the dataset.");
                stream.Position = 0;
                return Image.Load<L16>(SingleThreaded, stream);
            }
            catch (ImageFormatException e)
            {
                // Covers invalid content and unknown formats met after identification.
                throw new ImageRejectedException(path, ImageRejectedException.CorruptImage,
                    $"Image file '{path}' is corrupt or truncated ({e.Message}); export it again or remove it from the dataset.", e);
            }
            catch (NotSupportedException e)
            {
                throw new ImageRejectedException(path, ImageRejectedException.UnsupportedImage,
                    $"Image file '{path}' uses an encoding the decoder does not support ({e.Message}); re-save it as an 8-bit JPEG or a PNG.", e);
            }
            catch (InvalidMemoryOperationException e)
            {
                throw new ImageRejectedException(path, ImageRejectedException.TooLarge,
                    $"Image file '{path}' needs more memory to decode than is allowed ({e.Message}); downscale it first.", e);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw Unreadable(path, e);
            }
        }
    }

    /// <summary>
    /// ImageSharp decodes a truncated JPEG without complaint, filling the missing rows with grey, so the file must end
    /// with the end-of-image marker FF D9. Entropy-coded data never contains FF D9, and the last 4 KiB are searched to
    /// allow for trailing padding.
    /// </summary>
    private static bool EndsWithJpegEndMarker(FileStream stream)
    {
        Span<byte> tail = stackalloc byte[(int)Math.Min(4096, stream.Length)];
        stream.Position = stream.Length - tail.Length;
        stream.ReadExactly(tail);
        return tail.IndexOf([(byte)0xFF, (byte)0xD9]) >= 0;
    }

    private static ImageRejectedException Unreadable(string path, Exception e) =>
        new(path, ImageRejectedException.UnreadableFile, $"Image file '{path}' cannot be read ({e.Message}); check that it is readable.", e);

    private static Configuration CreateSingleThreadedConfiguration()
    {
        Configuration configuration = Configuration.Default.Clone();
        configuration.MaxDegreeOfParallelism = 1;
        return configuration;
    }
}
