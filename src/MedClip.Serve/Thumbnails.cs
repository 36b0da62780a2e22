using System.Collections.Concurrent;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Processing;

namespace MedClip.Serve;

/// <summary>Small JPEG previews of indexed images (longest side <see cref="Size"/> px), made on first request and kept in memory.</summary>
public sealed class Thumbnails
{
    public const int Size = 192;

    private readonly ConcurrentDictionary<string, byte[]> _cache = new(StringComparer.Ordinal);

    /// <summary>The preview's JPEG bytes, or null when the file cannot be decoded.</summary>
    public byte[]? For(string path) => _cache.TryGetValue(path, out var bytes) ? bytes : Make(path) is { } made ? _cache[path] = made : null;

    private static byte[]? Make(string path)
    {
        try
        {
            using var image = Image.Load(path);
            image.Mutate(x => x.Resize(new ResizeOptions { Size = new Size(Size, Size), Mode = ResizeMode.Max }));
            using var stream = new MemoryStream();
            image.Save(stream, new JpegEncoder { Quality = 85 });
            return stream.ToArray();
        }
        catch (Exception e) when (e is ImageFormatException or UnknownImageFormatException or IOException or InvalidImageContentException)
        {
            return null;
        }
    }
}
