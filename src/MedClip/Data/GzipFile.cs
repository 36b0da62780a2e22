using System.Buffers.Binary;
using System.IO.Compression;

namespace MedClip.Data;

/// <summary>
/// A .gz file decompressed whole and checked, because GZipStream ends quietly where a truncated file ends: the file
/// must start with gzip's magic bytes, inflate without error, and end with the trailer of its last member, whose CRC-32
/// and length must match the last ISIZE bytes of the output (all of it for a single-member file, as MIMIC's tables are).
/// </summary>
internal static class GzipFile
{
    private static readonly uint[] CrcTable = Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    /// <summary>The decompressed content; a file that is not gzip, or is truncated or corrupt, is an <see cref="InvalidDataException"/> naming it.</summary>
    public static MemoryStream Decompress(string path)
    {
        byte[] compressed = File.ReadAllBytes(path);
        if (compressed.Length < 2 || compressed[0] != 0x1f || compressed[1] != 0x8b)
            throw new InvalidDataException($"'{path}' is not gzip although its name ends in .gz; decompress it or rename it to .csv.");
        var output = new MemoryStream();
        try
        {
            using var gzip = new GZipStream(new MemoryStream(compressed), CompressionMode.Decompress);
            gzip.CopyTo(output);
        }
        catch (InvalidDataException)
        {
            throw Damaged(path);
        }
        if (compressed.Length < 18 || !TrailerMatches(compressed.AsSpan(compressed.Length - 8), output.GetBuffer().AsSpan(0, (int)output.Length)))
            throw Damaged(path);
        output.Position = 0;
        return output;
    }

    private static InvalidDataException Damaged(string path) =>
        new($"'{path}' is truncated or corrupt (its gzip data does not check out); download or copy it again.");

    // The trailer: CRC-32 then ISIZE (the member's length mod 2^32), both little-endian.
    private static bool TrailerMatches(ReadOnlySpan<byte> trailer, ReadOnlySpan<byte> content)
    {
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(trailer);
        uint size = BinaryPrimitives.ReadUInt32LittleEndian(trailer[4..]);
        return size <= content.Length && Crc32(content[^(int)size..]) == crc;
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte b in data)
            c = CrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
        return ~c;
    }
}
