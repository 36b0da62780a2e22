namespace MedClip.Data.Images;

/// <summary>
/// Training-time augmentation of a square luminance image in [0, 1], applied before normalisation. Draws from the
/// caller's <see cref="Random"/> in a fixed order, so the same seed gives the same pixels; immutable, so loader
/// workers can share one instance.
/// <list type="bullet">
/// <item>Random resized crop: a rectangle covering <see cref="MinAreaScale"/>..<see cref="MaxAreaScale"/> of the area
/// with width/height ratio log-uniform in <see cref="MinAspectRatio"/>..<see cref="MaxAspectRatio"/> (torchvision's
/// RandomResizedCrop with milder scales: a chest X-ray must keep both lungs). A side longer than the image is clipped to
/// it, which slightly narrows the ratio of the largest crops.</item>
/// <item>A rotation about the crop's centre, uniform in ±<see cref="MaxRotationDegrees"/> (patient positioning).</item>
/// <item>Brightness then contrast jitter: x·b, then m + c·(x − m) with m the image mean, b and c uniform in
/// 1 ± the jitter (exposure differences), each step clamped to [0, 1] as torchvision's ColorJitter does.</item>
/// </list>
/// The crop and rotation are one geometric map from output pixels to the input, sampled bilinearly; whatever falls
/// outside the input reads 0, the padding value. The input is already at the output size, so the crop is upsampled
/// by at most 1/sqrt(MinAreaScale) (about 1.12x) and bilinear sampling loses little.
/// </summary>
public sealed record ImageAugmentation
{
    public double MinAreaScale { get; init; } = 0.8;
    public double MaxAreaScale { get; init; } = 1.0;
    public double MinAspectRatio { get; init; } = 3.0 / 4.0;
    public double MaxAspectRatio { get; init; } = 4.0 / 3.0;
    public double MaxRotationDegrees { get; init; } = 10;
    public double BrightnessJitter { get; init; } = 0.2;
    public double ContrastJitter { get; init; } = 0.2;

    /// <summary>
    /// Off by default: left and right are not interchangeable in a chest X-ray (the heart sits on the left, and reports
    /// say "left lower lobe"), so a mirrored image no longer matches its report.
    /// </summary>
    public double HorizontalFlipProbability { get; init; }

    /// <summary>Writes the augmented <paramref name="source"/> (size x size, row-major) into <paramref name="destination"/>.</summary>
    public void Apply(ReadOnlySpan<float> source, Span<float> destination, int size, Random rng)
    {
        if (source.Length != size * size || destination.Length != size * size)
            throw new ArgumentException($"Augmenting a {size} x {size} image needs {size * size} values in and out.");
        if (source.Overlaps(destination))
            throw new ArgumentException("Augmentation cannot write over its own input.", nameof(destination));

        double area = size * (double)size * Uniform(rng, MinAreaScale, MaxAreaScale);
        double ratio = Math.Exp(Uniform(rng, Math.Log(MinAspectRatio), Math.Log(MaxAspectRatio)));
        double cropWidth = Math.Min(size, Math.Sqrt(area * ratio));
        double cropHeight = Math.Min(size, Math.Sqrt(area / ratio));
        double cropLeft = Uniform(rng, 0, size - cropWidth);
        double cropTop = Uniform(rng, 0, size - cropHeight);
        double angle = Uniform(rng, -MaxRotationDegrees, MaxRotationDegrees) * Math.PI / 180;
        bool flip = rng.NextDouble() < HorizontalFlipProbability;
        float brightness = (float)Uniform(rng, 1 - BrightnessJitter, 1 + BrightnessJitter);
        float contrast = (float)Uniform(rng, 1 - ContrastJitter, 1 + ContrastJitter);

        // Output pixel centre (u, v) in [0, size)^2 maps to the crop point (x0 + u·w/size, y0 + v·h/size), which is
        // rotated about the crop centre to the input point that is sampled.
        double centreX = cropLeft + cropWidth / 2, centreY = cropTop + cropHeight / 2;
        double cos = Math.Cos(angle), sin = Math.Sin(angle);
        double stepX = cropWidth / size, stepY = cropHeight / size;
        double sum = 0;
        for (int row = 0; row < size; row++)
        {
            double dy = (row + 0.5) * stepY - cropHeight / 2;
            for (int column = 0; column < size; column++)
            {
                double u = flip ? size - (column + 0.5) : column + 0.5;
                double dx = u * stepX - cropWidth / 2;
                double x = centreX + cos * dx - sin * dy;
                double y = centreY + sin * dx + cos * dy;
                float value = Math.Min(1f, SampleBilinear(source, size, x - 0.5, y - 0.5) * brightness);
                destination[row * size + column] = value;
                sum += value;
            }
        }

        float mean = (float)(sum / destination.Length);
        for (int i = 0; i < destination.Length; i++)
            destination[i] = Math.Clamp(mean + contrast * (destination[i] - mean), 0f, 1f);
    }

    private static double Uniform(Random rng, double low, double high) => low + (high - low) * rng.NextDouble();

    /// <summary>Bilinear interpolation at (x, y) in pixel-index coordinates; pixels outside the image read 0.</summary>
    private static float SampleBilinear(ReadOnlySpan<float> image, int size, double x, double y)
    {
        int left = (int)Math.Floor(x), top = (int)Math.Floor(y);
        float fx = (float)(x - left), fy = (float)(y - top);
        float topRow = (1 - fx) * Pixel(image, size, left, top) + fx * Pixel(image, size, left + 1, top);
        float bottomRow = (1 - fx) * Pixel(image, size, left, top + 1) + fx * Pixel(image, size, left + 1, top + 1);
        return (1 - fy) * topRow + fy * bottomRow;
    }

    private static float Pixel(ReadOnlySpan<float> image, int size, int x, int y) =>
        (uint)x < (uint)size && (uint)y < (uint)size ? image[y * size + x] : 0f;
}
