using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;

namespace MedClip.Training;

/// <summary>
/// TensorBoard event files written without TensorFlow. Each record is TFRecord-framed: uint64 length, masked CRC-32C of
/// those 8 bytes, the payload, masked CRC-32C of the payload (little-endian). Payloads are <c>Event</c> protocol buffers:
/// the first carries file_version "brain.Event:2", the others a <c>Summary</c> of scalar values at a step. Metric names
/// become tags as <see cref="Tags"/> says; other keys are not sent.
/// </summary>
public sealed class TensorBoardEventWriter : IMetricsSink
{
    public const string FileVersion = "brain.Event:2";

    /// <summary>metrics.jsonl keys and the TensorBoard tags they are written under.</summary>
    public static readonly IReadOnlyList<(string Key, string Tag)> Tags =
    [
        ("loss", "train/loss"), ("val_loss", "val/loss"), ("lr", "train/lr"), ("lr_towers", "train/lr_towers"),
        ("logit_scale", "train/logit_scale"), ("grad_norm", "train/grad_norm"), ("images_per_s", "train/images_per_s"),
    ];

    private readonly FileStream _file;

    private TensorBoardEventWriter(FileStream file) => _file = file;

    public string Path => _file.Name;

    /// <summary>A new event file in <paramref name="folder"/>, named as TensorBoard expects (events.out.tfevents.TIME.HOST.PID).</summary>
    public static TensorBoardEventWriter Create(string folder)
    {
        Directory.CreateDirectory(folder);
        double now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        string name = $"events.out.tfevents.{(long)now}.{Environment.MachineName}.{Environment.ProcessId}";
        string path = System.IO.Path.Combine(folder, name);
        for (int n = 1; File.Exists(path); n++) path = System.IO.Path.Combine(folder, $"{name}.{n}"); // a second run within the same second and process
        var writer = new TensorBoardEventWriter(new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read));
        var header = new ProtoWriter();
        header.Double(1, now);
        header.String(3, FileVersion);
        writer.WriteRecord(header.ToArray());
        return writer;
    }

    public void Write(JsonObject line)
    {
        if (Number(line["step"]) is not double step) return;
        var summary = new ProtoWriter();
        foreach (var (key, tag) in Tags)
        {
            if (Number(line[key]) is not double value) continue;
            var scalar = new ProtoWriter();
            scalar.String(1, tag);
            scalar.Float(2, (float)value);
            summary.Message(1, scalar);
        }
        if (summary.Length == 0) return;
        var ev = new ProtoWriter();
        ev.Double(1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0);
        ev.Varint(2, (ulong)step);
        ev.Message(5, summary);
        WriteRecord(ev.ToArray());
    }

    private static double? Number(JsonNode? node) => node is JsonValue value
        ? value.TryGetValue(out double d) ? d : value.TryGetValue(out float f) ? f : value.TryGetValue(out long l) ? l : value.TryGetValue(out int i) ? i : null
        : null;

    private void WriteRecord(byte[] payload)
    {
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], MaskedCrc32C(header[..8]));
        Span<byte> footer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(footer, MaskedCrc32C(payload));
        _file.Write(header);
        _file.Write(payload);
        _file.Write(footer);
        _file.Flush(); // a crash loses nothing logged, as with metrics.jsonl
    }

    /// <summary>CRC-32C (Castagnoli), as TFRecord uses: reflected, initial value and final XOR 0xFFFFFFFF.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = uint.MaxValue;
        foreach (byte b in data) crc = System.Numerics.BitOperations.Crc32C(crc, b);
        return ~crc;
    }

    /// <summary>TFRecord's masked CRC: rotate right by 15 bits and add a constant, so a CRC of CRC-bearing data is not trivial.</summary>
    public static uint MaskedCrc32C(ReadOnlySpan<byte> data)
    {
        uint crc = Crc32C(data);
        return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
    }

    public void Dispose() => _file.Dispose();

    /// <summary>The protocol-buffer wire format for the few field types an event needs.</summary>
    private sealed class ProtoWriter
    {
        private readonly MemoryStream _buffer = new();

        public long Length => _buffer.Length;

        public byte[] ToArray() => _buffer.ToArray();

        public void Varint(int field, ulong value)
        {
            Key(field, 0);
            RawVarint(value);
        }

        public void Double(int field, double value)
        {
            Key(field, 1);
            Span<byte> bytes = stackalloc byte[8];
            BinaryPrimitives.WriteDoubleLittleEndian(bytes, value);
            _buffer.Write(bytes);
        }

        public void Float(int field, float value)
        {
            Key(field, 5);
            Span<byte> bytes = stackalloc byte[4];
            BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
            _buffer.Write(bytes);
        }

        public void String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        public void Message(int field, ProtoWriter message) => Bytes(field, message.ToArray());

        private void Bytes(int field, byte[] bytes)
        {
            Key(field, 2);
            RawVarint((ulong)bytes.Length);
            _buffer.Write(bytes);
        }

        private void Key(int field, int wireType) => RawVarint((ulong)(field << 3 | wireType));

        private void RawVarint(ulong value)
        {
            for (; value >= 0x80; value >>= 7) _buffer.WriteByte((byte)(value | 0x80));
            _buffer.WriteByte((byte)value);
        }
    }
}
