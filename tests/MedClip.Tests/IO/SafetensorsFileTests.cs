using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using MedClip.IO;

namespace MedClip.Tests.IO;

public sealed class SafetensorsFileTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("medclip-safetensors-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string PathOf(string name) => Path.Combine(_folder, name);

    [Fact]
    public void RoundTrip_KeepsEveryDTypeShapeAndTheMetadata()
    {
        float[] f32 = [1.5f, -2.25f, 3e-8f, float.MaxValue, 0f, -0f];
        double[] f64 = [Math.PI, -1e300, 5e-324, 0.1];
        int[] i32 = [int.MinValue, -1, 0, int.MaxValue];
        long[] i64 = [-3, 1L << 40];
        Half[] f16 = [(Half)1.5f, (Half)(-65504f), Half.Epsilon];
        ushort[] bf16 = [0x3FC0, 0xC0A0]; // 1.5, -5
        byte[] u8 = [0, 7, 255];
        string path = PathOf("round-trip.safetensors");

        SafetensorsFile.Write(path,
        [
            SafetensorsTensor.FromFloat32("weights.f32", [2, 3], f32),
            SafetensorsTensor.FromFloat64("f64", [4], f64),
            SafetensorsTensor.FromInt32("ids", [2, 1, 2], i32),
            new SafetensorsTensor("i64", SafetensorsDType.I64, [2], MemoryMarshal.AsBytes<long>(i64).ToArray()),
            new SafetensorsTensor("f16", SafetensorsDType.F16, [3], MemoryMarshal.AsBytes<Half>(f16).ToArray()),
            new SafetensorsTensor("bf16", SafetensorsDType.BF16, [2], MemoryMarshal.AsBytes<ushort>(bf16).ToArray()),
            new SafetensorsTensor("mask", SafetensorsDType.U8, [3], u8),
            SafetensorsTensor.FromFloat32("logit_scale", [], [2.6592f]),
            SafetensorsTensor.FromFloat32("empty", [0, 4], []),
        ], new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode \"quoted\"" });

        SafetensorsFile file = SafetensorsFile.Read(path);

        Assert.Equal(new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode \"quoted\"" }, file.Metadata);
        Assert.Equal(9, file.Tensors.Count);
        Assert.Equal(f32, file["weights.f32"].ToFloat32());
        Assert.Equal([2L, 3L], file["weights.f32"].Shape);
        Assert.Equal(SafetensorsDType.F32, file["weights.f32"].DType);
        Assert.Equal(f64, file["f64"].ToFloat64());
        Assert.Equal(i32, file["ids"].ToInt32());
        Assert.Equal([2L, 1L, 2L], file["ids"].Shape);
        Assert.Equal([-3, 1L << 40], file["i64"].ToFloat64());
        Assert.Equal([1.5f, -65504f, (float)Half.Epsilon], file["f16"].ToFloat32());
        Assert.Equal([1.5, -5.0], file["bf16"].ToFloat64());
        Assert.Equal([0, 7, 255], file["mask"].ToInt32());
        Assert.Equal(u8, file["mask"].Data.ToArray());
        Assert.Empty(file["logit_scale"].Shape);
        Assert.Equal(1, file["logit_scale"].ElementCount);
        Assert.Equal([2.6592f], file["logit_scale"].ToFloat32());
        Assert.Equal([0L, 4L], file["empty"].Shape);
        Assert.Empty(file["empty"].ToFloat32());
    }

    [Fact]
    public void RoundTrip_FromRawBytesAsTuples()
    {
        string path = PathOf("tuples.safetensors");
        byte[] data = MemoryMarshal.AsBytes<float>([1f, 2f]).ToArray();

        SafetensorsFile.Write(path, [("b", SafetensorsDType.F32, [2L], (ReadOnlyMemory<byte>)data)], metadata: null);

        SafetensorsFile file = SafetensorsFile.Read(path);
        Assert.Empty(file.Metadata);
        Assert.Equal([1f, 2f], file["b"].ToFloat32());
    }

    [Fact]
    public void Write_LaysOutTheFileAsTheReferenceImplementation()
    {
        string path = PathOf("layout.safetensors");

        SafetensorsFile.Write(path,
        [
            SafetensorsTensor.FromFloat32("b", [1], [2f]),
            SafetensorsTensor.FromFloat32("a", [2], [0f, 1f]),
        ]);

        byte[] bytes = File.ReadAllBytes(path);
        int headerLength = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        Assert.Equal(0, headerLength % 8);
        string header = Encoding.UTF8.GetString(bytes, 8, headerLength);
        Assert.Equal(
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
            header.TrimEnd(' '));
        Assert.True(header.Length - header.TrimEnd(' ').Length < 8);
        Assert.Equal([0f, 1f, 2f], MemoryMarshal.Cast<byte, float>(bytes.AsSpan(8 + headerLength)).ToArray());
    }

    [Fact]
    public void Write_ReplacesAnExistingFileAndLeavesNoTemporaryFile()
    {
        string path = PathOf("model.safetensors");
        File.WriteAllText(path, "old contents");

        SafetensorsFile.Write(path, [SafetensorsTensor.FromFloat32("x", [1], [4f])]);

        Assert.Equal([4f], SafetensorsFile.Read(path)["x"].ToFloat32());
        Assert.Equal([path], Directory.GetFiles(_folder));
    }

    [Fact]
    public void Write_RejectsATensorGivenTwice()
    {
        var tensors = new[] { SafetensorsTensor.FromFloat32("x", [1], [1f]), SafetensorsTensor.FromFloat32("x", [1], [2f]) };

        Assert.Throws<ArgumentException>(() => SafetensorsFile.Write(PathOf("twice.safetensors"), tensors));
        Assert.Empty(Directory.GetFiles(_folder));
    }

    [Fact]
    public void Tensor_RejectsDataOfTheWrongLength() =>
        Assert.Throws<ArgumentException>(() => new SafetensorsTensor("x", SafetensorsDType.F32, [2, 2], new byte[12]));

    [Fact]
    public void Indexer_NamesTheFileWhenATensorIsMissing()
    {
        string path = PathOf("missing.safetensors");
        SafetensorsFile.Write(path, [SafetensorsTensor.FromFloat32("x", [1], [1f])]);

        var error = Assert.Throws<KeyNotFoundException>(() => SafetensorsFile.Read(path)["y"]);

        Assert.Contains(path, error.Message);
        Assert.Contains("'y'", error.Message);
    }

    [Fact]
    public void ToInt32_RefusesAFloatTensor()
    {
        string path = PathOf("float-ids.safetensors");
        SafetensorsFile.Write(path, [SafetensorsTensor.FromFloat32("input_ids", [2], [1f, 2f])]);

        var error = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Read(path)["input_ids"].ToInt32());

        Assert.Contains(path, error.Message);
        Assert.Contains("F32", error.Message);
    }

    [Fact]
    public void ToInt32_RefusesAnInt64ValueOutOfRange()
    {
        string path = PathOf("big-ids.safetensors");
        SafetensorsFile.Write(path,
            [new SafetensorsTensor("ids", SafetensorsDType.I64, [1], MemoryMarshal.AsBytes<long>([1L << 40]).ToArray())]);

        Assert.Throws<InvalidDataException>(() => SafetensorsFile.Read(path)["ids"].ToInt32());
    }

    private const string ValidEntry = "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";

    public static TheoryData<string, string, int, string> CorruptHeaders => new()
    {
        // name, header JSON, data section length, words the message must contain
        { "bad-json", "{" + ValidEntry + ",", 8, "not well-formed JSON" },
        { "not-an-object", "[1, 2]", 8, "instead of an object" },
        { "offsets-out-of-range", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 8, "beyond the end" },
        { "offsets-reversed", "{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8, "end before they begin" },
        { "overlapping", "{" + ValidEntry + ",\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap" },
        { "wrong-byte-count", "{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "takes 12 bytes" },
        { "huge-shape", "{\"x\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8, "more than 2^63" },
        { "negative-dim", "{\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "not a non-negative integer" },
        { "unknown-dtype", "{\"x\":{\"dtype\":\"F31\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype 'F31'" },
        { "no-dtype", "{\"x\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "no dtype" },
        { "one-offset", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "two non-negative integers" },
        { "duplicate-name", "{" + ValidEntry + "," + ValidEntry + "}", 8, "twice" },
        { "gap", "{" + ValidEntry + ",\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20, "leaving a gap" },
        { "not-from-zero", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "starts at data offset 4" },
        { "trailing-bytes", "{" + ValidEntry + "}", 12, "leaving 4 bytes" },
        { "metadata-not-strings", "{\"__metadata__\":{\"epoch\":3}," + ValidEntry + "}", 8, "instead of a string" },
    };

    [Theory]
    [MemberData(nameof(CorruptHeaders))]
    public void Read_RejectsACorruptHeaderInOneSentenceNamingTheFile(string name, string header, int dataLength, string expected)
    {
        string path = PathOf(name + ".safetensors");
        File.WriteAllBytes(path, FileBytes(Encoding.UTF8.GetBytes(header), header.Length, new byte[dataLength]));

        AssertInvalid(path, expected);
    }

    [Fact]
    public void Read_RejectsAFileTooShortForTheHeaderLength()
    {
        string path = PathOf("tiny.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);

        AssertInvalid(path, "too short");
    }

    [Fact]
    public void Read_RejectsATruncatedHeader()
    {
        string path = PathOf("truncated-header.safetensors");
        byte[] header = Encoding.UTF8.GetBytes("{" + ValidEntry + "}");
        File.WriteAllBytes(path, FileBytes(header[..10], header.Length, []));

        AssertInvalid(path, "runs past the end");
    }

    [Fact]
    public void Read_RejectsAHeaderLengthOverTheLimit()
    {
        string path = PathOf("huge-header.safetensors");
        File.WriteAllBytes(path, FileBytes(Encoding.UTF8.GetBytes("{}"), (long)SafetensorsFile.MaxHeaderBytes, []));

        AssertInvalid(path, "limit");
    }

    [Fact]
    public void Read_RejectsAHeaderThatIsNotUtf8()
    {
        string path = PathOf("latin1.safetensors");
        byte[] header = Encoding.Latin1.GetBytes("{\"caf\u00e9\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}");
        File.WriteAllBytes(path, FileBytes(header, header.Length, []));

        AssertInvalid(path, "not valid UTF-8");
    }

    [Fact]
    public void Read_RejectsATruncatedDataSection()
    {
        string path = PathOf("truncated-data.safetensors");
        SafetensorsFile.Write(path, [SafetensorsTensor.FromFloat32("x", [4], [1f, 2f, 3f, 4f])]);
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^4]);

        AssertInvalid(path, "truncated");
    }

    [Fact]
    public void Read_RejectsEveryTruncationAsInvalidData()
    {
        string path = PathOf("whole.safetensors");
        SafetensorsFile.Write(path, [SafetensorsTensor.FromFloat32("a", [2, 3], [1, 2, 3, 4, 5, 6]), SafetensorsTensor.FromInt32("b", [2], [7, 8])],
            new Dictionary<string, string> { ["format"] = "pt" });
        byte[] bytes = File.ReadAllBytes(path);
        string cut = PathOf("cut.safetensors");
        for (int length = 0; length < bytes.Length; length++)
        {
            File.WriteAllBytes(cut, bytes[..length]);
            Assert.Throws<InvalidDataException>(() => SafetensorsFile.Read(cut));
        }
    }

    [Fact]
    public void Read_ConvertsF16AndBF16ToFloat32()
    {
        string path = PathOf("half.safetensors");
        float[] values = [1.5f, -2.25f, 0.0078125f, 384f];
        ushort[] bf16 = values.Select(v => (ushort)(BitConverter.SingleToInt32Bits(v) >> 16)).ToArray();
        SafetensorsFile.Write(path,
        [
            new SafetensorsTensor("h", SafetensorsDType.F16, [4], MemoryMarshal.AsBytes<Half>(values.Select(v => (Half)v).ToArray()).ToArray()),
            new SafetensorsTensor("b", SafetensorsDType.BF16, [2, 2], MemoryMarshal.AsBytes<ushort>(bf16).ToArray()),
        ]);

        using var file = SafetensorsFile.Read(path);
        Assert.Equal(values, file["h"].ToFloat32());
        Assert.Equal(values, file["b"].ToFloat32());
    }

    [Fact]
    public void Read_MapsTheFileAndRefusesReadsAfterDispose()
    {
        string path = PathOf("mapped.safetensors");
        SafetensorsFile.Write(path, [SafetensorsTensor.FromFloat32("x", [3], [1f, 2f, 3f])]);

        var file = SafetensorsFile.Read(path);
        SafetensorsTensor x = file["x"];
        Assert.Equal([1f, 2f, 3f], x.ToFloat32());
        Assert.False(MemoryMarshal.TryGetArray(x.Data, out _));
        file.Dispose();

        Assert.Throws<ObjectDisposedException>(() => x.ToFloat32());
    }

    /// <summary>An 8-byte little-endian <paramref name="declaredHeaderLength"/>, then the header bytes, then the data.</summary>
    private static byte[] FileBytes(byte[] header, long declaredHeaderLength, byte[] data)
    {
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)declaredHeaderLength);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    private static void AssertInvalid(string path, string expected)
    {
        var error = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Read(path));
        Assert.Contains($"'{path}'", error.Message);
        Assert.Contains(expected, error.Message);
        Assert.EndsWith(".", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }
}
