using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Unicode;

namespace MedClip.IO;

/// <summary>
/// Reads a safetensors file, checking everything a corrupt or truncated file could get wrong:
/// the header length fits the file and the 100 MB bound, the header is a JSON object of
/// well-formed entries, each tensor's byte count is product(shape) * dtype size, and the
/// data_offsets tile the data section without gaps or overlaps. The file is memory-mapped: tensors are views of the
/// mapping, valid until the <see cref="SafetensorsFile"/> is disposed.
/// </summary>
internal static class SafetensorsReader
{
    private const long MaxHeaderBytes = SafetensorsFile.MaxHeaderBytes;

    private readonly record struct Entry(string Name, string DType, long[] Shape, long Begin, long End);

    public static SafetensorsFile Read(string path)
    {
        long fileLength = new FileInfo(path) is { Exists: true } info
            ? info.Length
            : throw new FileNotFoundException($"Safetensors file '{path}' does not exist.", path);
        if (fileLength < 8)
            throw Invalid(path, $"it is {fileLength} bytes long, too short to hold the 8-byte header length");

        var mapped = new MappedFile(path, fileLength);
        try
        {
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(mapped.Span(0, 8));
            if (headerLength >= MaxHeaderBytes)
                throw Invalid(path, $"its header length {headerLength} is not below the {MaxHeaderBytes}-byte limit");
            if (headerLength > (ulong)(fileLength - 8))
                throw Invalid(path, $"its header length {headerLength} runs past the end of the {fileLength}-byte file, which is probably truncated");

            long dataStart = 8 + (long)headerLength;
            long dataLength = fileLength - dataStart;
            List<Entry> entries = ParseHeader(path, mapped.Slice(8, (int)headerLength), out Dictionary<string, string> metadata);
            CheckLayout(path, entries, dataLength);

            var tensors = new Dictionary<string, SafetensorsTensor>(entries.Count, StringComparer.Ordinal);
            foreach (Entry entry in entries)
            {
                long byteCount = entry.End - entry.Begin;
                if (byteCount > int.MaxValue)
                    throw new NotSupportedException($"Tensor '{entry.Name}' in '{path}' is {byteCount} bytes; tensors over 2 GiB are not supported.");
                tensors[entry.Name] = new SafetensorsTensor(entry.Name, entry.DType, entry.Shape, mapped.Slice(dataStart + entry.Begin, (int)byteCount))
                {
                    SourcePath = path,
                };
            }
            return new SafetensorsFile(path, metadata, tensors, mapped);
        }
        catch
        {
            mapped.Dispose();
            throw;
        }
    }

    private static List<Entry> ParseHeader(string path, ReadOnlyMemory<byte> header, out Dictionary<string, string> metadata)
    {
        if (!Utf8.IsValid(header.Span))
            throw Invalid(path, "its header is not valid UTF-8");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            throw Invalid(path, $"its header is not well-formed JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1})");
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Invalid(path, $"its header is a JSON {root.ValueKind} instead of an object");

            metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new List<Entry>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty property in root.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw Invalid(path, $"its header names '{property.Name}' twice");
                if (property.Name == SafetensorsFile.MetadataKey)
                    metadata = ParseMetadata(path, property.Value);
                else
                    entries.Add(ParseEntry(path, property.Name, property.Value));
            }
            return entries;
        }
    }

    private static Dictionary<string, string> ParseMetadata(string path, JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Invalid(path, $"its {SafetensorsFile.MetadataKey} is a JSON {value.ValueKind} instead of an object of strings");
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (JsonProperty item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw Invalid(path, $"its {SafetensorsFile.MetadataKey} entry '{item.Name}' is a JSON {item.Value.ValueKind} instead of a string");
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw Invalid(path, $"its {SafetensorsFile.MetadataKey} names '{item.Name}' twice");
        }
        return metadata;
    }

    private static Entry ParseEntry(string path, string name, JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Invalid(path, $"the header entry of tensor '{name}' is a JSON {value.ValueKind} instead of an object");

        if (!value.TryGetProperty("dtype", out JsonElement dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw Invalid(path, $"tensor '{name}' has no dtype string");
        string dtype = dtypeElement.GetString()!;
        if (!SafetensorsDType.TryGetElementSize(dtype, out int elementSize))
            throw Invalid(path, $"tensor '{name}' has the unknown dtype '{dtype}'");

        long[] shape = ReadIntegers(path, name, value, "shape")
            ?? throw Invalid(path, $"tensor '{name}' has no shape given as an array of non-negative integers");
        long[] offsets = ReadIntegers(path, name, value, "data_offsets") is { Length: 2 } pair
            ? pair
            : throw Invalid(path, $"tensor '{name}' has no data_offsets given as two non-negative integers");
        long begin = offsets[0], end = offsets[1];
        if (end < begin)
            throw Invalid(path, $"tensor '{name}' has data_offsets [{begin}, {end}] that end before they begin");

        long? expected = SafetensorsTensor.ElementCountOf(shape) is long count && count <= long.MaxValue / elementSize
            ? count * elementSize
            : null;
        if (expected != end - begin)
            throw Invalid(path,
                $"tensor '{name}' of dtype {dtype} and shape [{string.Join(", ", shape)}] takes {expected?.ToString() ?? "more than 2^63"} bytes " +
                $"but its data_offsets [{begin}, {end}] span {end - begin}");
        return new Entry(name, dtype, shape, begin, end);
    }

    /// <summary>The named property as an array of non-negative 64-bit integers, or null if it is anything else.</summary>
    private static long[]? ReadIntegers(string path, string name, JsonElement entry, string property)
    {
        if (!entry.TryGetProperty(property, out JsonElement array) || array.ValueKind != JsonValueKind.Array)
            return null;
        var values = new long[array.GetArrayLength()];
        int i = 0;
        foreach (JsonElement item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long v) || v < 0)
                throw Invalid(path, $"tensor '{name}' has {property} entry {item.GetRawText()}, which is not a non-negative integer");
            values[i++] = v;
        }
        return values;
    }

    /// <summary>
    /// As the reference implementation: sorted by offset, the tensors tile the data section exactly, each starting where
    /// the previous one ends, from byte 0 to the last byte of the file.
    /// </summary>
    private static void CheckLayout(string path, List<Entry> entries, long dataLength)
    {
        Entry? previous = null;
        foreach (Entry entry in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (entry.End > dataLength)
                throw Invalid(path,
                    $"tensor '{entry.Name}' has data_offsets [{entry.Begin}, {entry.End}] beyond the end of the {dataLength}-byte data section, so the file is probably truncated");
            if (previous is { } p && entry.Begin < p.End)
                throw Invalid(path,
                    $"tensors '{p.Name}' [{p.Begin}, {p.End}] and '{entry.Name}' [{entry.Begin}, {entry.End}] overlap in the data section");
            long expectedBegin = previous?.End ?? 0;
            if (entry.Begin != expectedBegin)
                throw Invalid(path,
                    $"tensor '{entry.Name}' starts at data offset {entry.Begin} but the previous tensor ends at {expectedBegin}, leaving a gap the header does not account for");
            previous = entry;
        }
        long covered = previous?.End ?? 0;
        if (covered != dataLength)
            throw Invalid(path, $"its tensors cover {covered} bytes of the {dataLength}-byte data section, leaving {dataLength - covered} bytes the header does not account for");
    }

    private static InvalidDataException Invalid(string path, string problem) =>
        new($"'{path}' is not a valid safetensors file: {problem}.");
}
