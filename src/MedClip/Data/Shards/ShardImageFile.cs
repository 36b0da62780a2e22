using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.IO.MemoryMappedFiles;
using MedClip.Data.Images;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace MedClip.Data.Shards;

/// <summary>
/// One shard of prepared images, read memory-mapped: a 16-byte header (the magic "MCSHARD1", then the side and the
/// count as little-endian int32) followed by count square uint8 luminance images of side x side, row-major, already
/// padded to a square and resized by prep. A sample names its image as "&lt;shard file&gt;#&lt;index&gt;", so every
/// consumer of image paths (the loader, evaluation, embedding) reads shards through <see cref="ImagePreprocessor"/>.
/// Open shards are cached for the life of the process and shared by all threads; the cache key includes the file's
/// length and modification time, so a shard that prep rewrote is opened afresh.
/// </summary>
public sealed class ShardImageFile
{
    public const string Extension = ".u8";
    public const int HeaderBytes = 16;
    private static readonly byte[] Magic = "MCSHARD1"u8.ToArray();
    private static readonly ConcurrentDictionary<string, Lazy<ShardImageFile>> Open = new(StringComparer.Ordinal);

    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;

    private ShardImageFile(string path)
    {
        Path = path;
        var length = new FileInfo(path).Length;
        if (length < HeaderBytes)
            throw new InvalidDataException($"Shard '{path}' is shorter than its header; run prep again to rewrite it.");
        _file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        _view = _file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        Span<byte> header = stackalloc byte[HeaderBytes];
        _view.SafeMemoryMappedViewHandle.ReadSpan(0, header);
        if (!header[..8].SequenceEqual(Magic))
            throw new InvalidDataException($"'{path}' is not a MedClip image shard; run prep again to rewrite it.");
        Side = BitConverter.ToInt32(header[8..12]);
        Count = BitConverter.ToInt32(header[12..16]);
        if (Side < 1 || Count < 0 || length != HeaderBytes + (long)Count * Side * Side)
            throw new InvalidDataException($"Shard '{path}' is {length} bytes, not the {Count} images of {Side} x {Side} its header promises; run prep again to rewrite it.");
    }

    public string Path { get; }
    public int Side { get; }
    public int Count { get; }

    /// <summary>The name a sample uses for image <paramref name="index"/> of the shard at <paramref name="shardPath"/>.</summary>
    public static string Reference(string shardPath, int index) => shardPath + "#" + index.ToString(CultureInfo.InvariantCulture);

    /// <summary>The open shard and index that <paramref name="path"/> names, or false when it is an ordinary file path.</summary>
    public static bool TryOpen(string path, out ShardImageFile? shard, out int index)
    {
        shard = null;
        index = -1;
        int hash = path.LastIndexOf('#');
        if (hash < 0 || !path.AsSpan(0, hash).EndsWith(Extension, StringComparison.Ordinal)
            || !int.TryParse(path.AsSpan(hash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out index))
            return false;
        string file = System.IO.Path.GetFullPath(path[..hash]);
        var info = new FileInfo(file);
        if (!info.Exists)
            throw new ImageRejectedException(path, ImageRejectedException.MissingFile, $"Shard '{file}' does not exist; run prep again.");
        string key = $"{file}|{info.Length}|{info.LastWriteTimeUtc.Ticks}";
        shard = Open.GetOrAdd(key, _ => new Lazy<ShardImageFile>(() => new ShardImageFile(file))).Value;
        return true;
    }

    /// <summary>Writes the header and images of a shard.</summary>
    public static void WriteHeader(Stream stream, int side, int count)
    {
        stream.Write(Magic);
        stream.Write(BitConverter.GetBytes(side));
        stream.Write(BitConverter.GetBytes(count));
    }

    /// <summary>Image <paramref name="index"/> as <paramref name="size"/> x <paramref name="size"/> luminance in [0, 1], resized when the shard's side differs.</summary>
    public void ReadLuminance(int index, Span<float> luminance, int size)
    {
        if ((uint)index >= (uint)Count)
            throw new ImageRejectedException(Reference(Path, index), ImageRejectedException.MissingFile,
                $"Shard '{Path}' holds {Count} images, so it has no image {index}; run prep again.");
        int pixels = Side * Side;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(pixels);
        try
        {
            Span<byte> stored = buffer.AsSpan(0, pixels);
            _view.SafeMemoryMappedViewHandle.ReadSpan((ulong)(HeaderBytes + (long)index * pixels), stored);
            if (Side == size)
            {
                for (int i = 0; i < pixels; i++)
                    luminance[i] = stored[i] * (1f / 255);
                return;
            }
            using Image<L8> image = Image.LoadPixelData<L8>(stored, Side, Side);
            image.Mutate(x => x.Resize(size, size, KnownResamplers.Bicubic));
            L8[] resized = new L8[size * size];
            image.CopyPixelDataTo(resized);
            for (int i = 0; i < resized.Length; i++)
                luminance[i] = resized[i].PackedValue * (1f / 255);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
