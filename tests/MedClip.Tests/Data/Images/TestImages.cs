using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace MedClip.Tests.Data.Images;

/// <summary>Tiny image files written by the tests themselves, so no binary fixtures are needed.</summary>
internal static class TestImages
{
    /// <summary>An 8-bit grayscale PNG whose pixel (x, y) is value(x, y).</summary>
    public static string WriteGrayPng(string path, int width, int height, Func<int, int, byte> value)
    {
        using var image = new Image<L8>(width, height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                image[x, y] = new L8(value(x, y));
        image.Save(path, new PngEncoder { ColorType = PngColorType.Grayscale, BitDepth = PngBitDepth.Bit8 });
        return path;
    }

    /// <summary>A 16-bit grayscale PNG whose pixel (x, y) is value(x, y).</summary>
    public static string WriteGray16Png(string path, int width, int height, Func<int, int, ushort> value)
    {
        using var image = new Image<L16>(width, height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                image[x, y] = new L16(value(x, y));
        image.Save(path, new PngEncoder { ColorType = PngColorType.Grayscale, BitDepth = PngBitDepth.Bit16 });
        return path;
    }

    /// <summary>A colour PNG filled with one colour.</summary>
    public static string WriteRgbPng(string path, int width, int height, Rgb24 colour)
    {
        using var image = new Image<Rgb24>(width, height, colour);
        image.Save(path, new PngEncoder { ColorType = PngColorType.Rgb });
        return path;
    }

    /// <summary>A grayscale JPEG of a smooth pattern with seeded noise, roughly like a radiograph.</summary>
    public static string WriteJpeg(string path, int width, int height, int seed = 1)
    {
        var rng = new Random(seed);
        using var image = new Image<L8>(width, height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                double pattern = 0.5 + 0.3 * Math.Sin(x * 0.05) * Math.Cos(y * 0.07);
                image[x, y] = new L8((byte)Math.Clamp(pattern * 255 + rng.Next(-20, 21), 0, 255));
            }
        image.Save(path, new JpegEncoder { Quality = 90 });
        return path;
    }
}
