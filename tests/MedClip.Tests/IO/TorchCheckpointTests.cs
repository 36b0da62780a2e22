using System.Buffers.Binary;
using System.IO.Compression;
using MedClip.IO;
using MedClip.IO.Torch;

namespace MedClip.Tests.IO;

/// <summary>
/// The PyTorch checkpoint reader against state dicts written by torch.save (tools/reference/make_pretrained_fixtures.py):
/// both formats, tensors sharing a storage at offsets and with non-contiguous strides, several dtypes, and pickles
/// that must be refused.
/// </summary>
public sealed class TorchCheckpointTests : IDisposable
{
    private static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "Fixtures", "Pretrained", "converter");
    private readonly string _folder = Directory.CreateTempSubdirectory("medclip-torch-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData("zip.bin")]
    [InlineData("zip_protocol4.bin")]
    [InlineData("legacy.bin")]
    public void Read_GivesTorchsTensorsContiguousWithTheirDTypes(string file)
    {
        var tensors = TorchCheckpoint.Read(Path.Combine(Fixtures, file));
        using var expected = SafetensorsFile.Read(Path.Combine(Fixtures, "expected.safetensors"));

        Assert.Equal(["embeddings.weight", "decoder.weight", "rows", "transposed", "strided", "half", "bfloat", "position_ids", "scalar", "double"],
            tensors.Select(t => t.Name));
        foreach (var tensor in tensors)
        {
            var reference = expected[tensor.Name];
            Assert.Equal(reference.DType, tensor.DType);
            Assert.Equal(reference.Shape, tensor.Shape);
            Assert.Equal(reference.Data.ToArray(), tensor.Data.ToArray());
        }
    }

    [Fact]
    public void Convert_WritesASafetensorsFileWithEveryTensor()
    {
        string output = Path.Combine(_folder, "model.safetensors");

        int count = TorchCheckpoint.Convert(Path.Combine(Fixtures, "legacy.bin"), output);

        using var converted = SafetensorsFile.Read(output);
        Assert.Equal(10, count);
        Assert.Equal(converted["embeddings.weight"].Data.ToArray(), converted["decoder.weight"].Data.ToArray());
        Assert.Equal(new long[] { 6, 4 }, converted["transposed"].Shape);
    }

    [Theory]
    [InlineData("malicious.bin")]
    [InlineData("malicious_legacy.bin")]
    public void Read_RefusesAPickleThatCallsOsSystem(string file)
    {
        string path = Path.Combine(Fixtures, file);

        var error = Assert.Throws<InvalidDataException>(() => TorchCheckpoint.Read(path));

        Assert.Contains($"'{path}'", error.Message);
        Assert.Contains("'posix.system'", error.Message);
        Assert.Contains("not allowed", error.Message);
    }

    [Fact]
    public void Read_RefusesAnOpcodeAStateDictDoesNotNeed()
    {
        // PROTO 2, BINFLOAT 1.0, STOP: a float is not part of a state dict.
        byte[] pickle = [0x80, 2, (byte)'G', 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, (byte)'.'];
        string path = WriteZip("float.bin", pickle);

        var error = Assert.Throws<InvalidDataException>(() => TorchCheckpoint.Read(path));

        Assert.Contains("opcode 0x47 ('G') at byte 2", error.Message);
    }

    [Fact]
    public void Read_RefusesAGlobalOutsideTheAllowList()
    {
        // GLOBAL builtins eval, then STOP.
        byte[] pickle = [0x80, 2, .. "cbuiltins\neval\n"u8, (byte)'.'];
        string path = WriteZip("eval.bin", pickle);

        var error = Assert.Throws<InvalidDataException>(() => TorchCheckpoint.Read(path));

        Assert.Contains("'builtins.eval'", error.Message);
    }

    [Fact]
    public void Read_RejectsATruncatedLegacyFile()
    {
        byte[] bytes = File.ReadAllBytes(Path.Combine(Fixtures, "legacy.bin"));
        string path = Path.Combine(_folder, "truncated.bin");
        File.WriteAllBytes(path, bytes[..^10]);

        var error = Assert.Throws<InvalidDataException>(() => TorchCheckpoint.Read(path));

        Assert.Contains("truncated", error.Message);
    }

    [Fact]
    public void Read_RejectsEveryTruncationOfALegacyFileAsInvalidData()
    {
        byte[] bytes = File.ReadAllBytes(Path.Combine(Fixtures, "legacy.bin"));
        string path = Path.Combine(_folder, "cut.bin");
        for (int length = 4; length < bytes.Length; length++)
        {
            File.WriteAllBytes(path, bytes[..length]);
            Assert.Throws<InvalidDataException>(() => TorchCheckpoint.Read(path));
        }
    }

    [Theory]
    [InlineData("legacy.bin")]
    [InlineData("zip.bin")]
    public void Read_AnswersCorruptedBytesWithInvalidDataOrTheTensors(string file)
    {
        byte[] bytes = File.ReadAllBytes(Path.Combine(Fixtures, file));
        string path = Path.Combine(_folder, "flipped.bin");
        var random = new Random(6);
        for (int trial = 0; trial < 500; trial++)
        {
            byte[] corrupt = (byte[])bytes.Clone();
            corrupt[random.Next(4, corrupt.Length)] ^= (byte)(1 << random.Next(8));
            File.WriteAllBytes(path, corrupt);
            try
            {
                TorchCheckpoint.Read(path);
            }
            catch (InvalidDataException)
            {
            }
        }
    }

    [Fact]
    public void Read_RejectsAStorageWhoseLengthDisagreesWithThePickle()
    {
        string source = Path.Combine(Fixtures, "zip.bin");
        string path = Path.Combine(_folder, "short-storage.bin");
        File.Copy(source, path);
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Update))
        {
            var entry = zip.Entries.First(e => e.FullName.EndsWith("/data/0", StringComparison.Ordinal));
            string name = entry.FullName;
            entry.Delete();
            using var stream = zip.CreateEntry(name).Open();
            stream.Write(new byte[4]);
        }

        var error = Assert.Throws<InvalidDataException>(() => TorchCheckpoint.Read(path));

        Assert.Contains("storage 0 is 4 bytes", error.Message);
    }

    [Fact]
    public void Read_RejectsAFileThatIsNoCheckpoint()
    {
        string path = Path.Combine(_folder, "text.bin");
        File.WriteAllText(path, "hello, world");

        var error = Assert.Throws<InvalidDataException>(() => TorchCheckpoint.Read(path));

        Assert.Contains($"'{path}'", error.Message);
    }

    /// <summary>A zip laid out as torch.save writes it, with the given data.pkl and no storages.</summary>
    private string WriteZip(string name, byte[] pickle)
    {
        string path = Path.Combine(_folder, name);
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            using var stream = zip.CreateEntry("archive/data.pkl", CompressionLevel.NoCompression).Open();
            stream.Write(pickle);
        }
        Assert.Equal(0x04034b50u, BinaryPrimitives.ReadUInt32LittleEndian(File.ReadAllBytes(path)));
        return path;
    }
}
