using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace MedClip.IO;

/// <summary>
/// Writes a safetensors file as the reference implementation lays it out: tensors packed
/// back to back in name order, the JSON header padded with spaces so the data section starts
/// at a multiple of 8 bytes. The write is atomic (temporary file in the same folder, fsync,
/// rename), so a crash leaves either the old file or the new one, never half of one.
/// </summary>
internal static class SafetensorsWriter
{
    public static void Write(string path, IEnumerable<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        List<SafetensorsTensor> sorted = tensors.OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        for (int i = 1; i < sorted.Count; i++)
        {
            if (sorted[i].Name == sorted[i - 1].Name)
                throw new ArgumentException($"Tensor '{sorted[i].Name}' is given twice.", nameof(tensors));
        }
        byte[] header = Header(sorted, metadata);

        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            stream.Write(length);
            stream.Write(header);
            foreach (SafetensorsTensor tensor in sorted)
                stream.Write(tensor.Data.Span);
        });
    }

    /// <summary>The JSON header (metadata first, then the tensors in the given order), padded with spaces to a multiple of 8 bytes.</summary>
    private static byte[] Header(List<SafetensorsTensor> sorted, IReadOnlyDictionary<string, string>? metadata)
    {
        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            if (metadata is not null)
            {
                writer.WriteStartObject(SafetensorsFile.MetadataKey);
                foreach ((string key, string value) in metadata.OrderBy(m => m.Key, StringComparer.Ordinal))
                    writer.WriteString(key, value);
                writer.WriteEndObject();
            }
            long offset = 0;
            foreach (SafetensorsTensor tensor in sorted)
            {
                writer.WriteStartObject(tensor.Name);
                writer.WriteString("dtype", tensor.DType);
                writer.WriteStartArray("shape");
                foreach (long dim in tensor.Shape)
                    writer.WriteNumberValue(dim);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset += tensor.Data.Length);
                writer.WriteEndArray();
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
        }
        int padding = (int)((8 - json.Length % 8) % 8);
        for (int i = 0; i < padding; i++)
            json.WriteByte((byte)' ');
        return json.ToArray();
    }
}
