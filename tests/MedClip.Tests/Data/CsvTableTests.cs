using System.IO.Compression;
using MedClip.Data;

namespace MedClip.Tests.Data;

public sealed class CsvTableTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("medclip-csv-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string PathOf(string name) => Path.Combine(_folder, name);

    [Fact]
    public void Read_HandlesQuotedCommasDoubledQuotesLineBreaksAndCrlf()
    {
        string path = PathOf("quoted.csv");
        File.WriteAllText(path, "id,text,n\r\n1,\"a, b\",2\r\n2,\"say \"\"hi\"\"\",3\r\n3,\"two\nlines\",\r\n");

        CsvTable table = CsvTable.Read(path);

        Assert.Equal(["id", "text", "n"], table.Columns);
        Assert.Equal(3, table.Rows.Count);
        Assert.Equal("a, b", table.Rows[0][table.ColumnIndex("text")]);
        Assert.Equal("say \"hi\"", table.Rows[1][1]);
        Assert.Equal("two\nlines", table.Rows[2][1]);
        Assert.Equal("", table.Rows[2][2]);
    }

    [Fact]
    public void WriterOutput_ReadsBackThroughGzip()
    {
        string plain = PathOf("round.csv");
        string[][] rows = [["x,y", "plain"], ["\"q\"", "multi\nline"], ["", "last"]];
        CsvWriter.Write(plain, ["a", "b"], rows);
        string gzipped = PathOf("round.csv.gz");
        using (FileStream source = File.OpenRead(plain))
        using (var target = new GZipStream(File.Create(gzipped), CompressionLevel.Fastest))
            source.CopyTo(target);

        CsvTable table = CsvTable.Read(gzipped);

        Assert.Equal(["a", "b"], table.Columns);
        Assert.Equal(rows, table.Rows);
    }

    [Fact]
    public void MissingColumn_IsAnErrorNamingTheFileAndColumn()
    {
        string path = PathOf("columns.csv");
        File.WriteAllText(path, "a,b\n1,2\n");

        var error = Assert.Throws<InvalidDataException>(() => CsvTable.Read(path).ColumnIndex("split"));

        Assert.Contains(path, error.Message);
        Assert.Contains("'split'", error.Message);
    }

    [Fact]
    public void WrongFieldCount_IsAnErrorNamingTheLine()
    {
        string path = PathOf("ragged.csv");
        File.WriteAllText(path, "a,b\n1,2\n3\n");

        var error = Assert.Throws<InvalidDataException>(() => CsvTable.Read(path));

        Assert.Contains("line 3", error.Message);
    }

    [Fact]
    public void UnclosedQuote_IsAnError()
    {
        string path = PathOf("unclosed.csv");
        File.WriteAllText(path, "a,b\n1,\"open\n");

        var error = Assert.Throws<InvalidDataException>(() => CsvTable.Read(path));

        Assert.Contains("never closes", error.Message);
    }

    /// <summary>A gzipped table of 5,000 rows, its bytes.</summary>
    private static byte[] GzippedTable()
    {
        using var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        using (var writer = new StreamWriter(gzip))
        {
            writer.Write("study_id,label\n");
            for (int i = 0; i < 5000; i++)
                writer.Write($"{50000000 + i * 7919},{i % 3 - 1}.0\n");
        }
        return compressed.ToArray();
    }

    [Theory]
    [InlineData(0.45)]
    [InlineData(0.9)]
    [InlineData(0.999)]
    public void TruncatedGzip_IsAnErrorNamingTheFile_NotAPartialRead(double kept)
    {
        byte[] whole = GzippedTable();
        string path = PathOf("labels.csv.gz");
        File.WriteAllBytes(path, whole[..(int)(whole.Length * kept)]);

        var error = Assert.Throws<InvalidDataException>(() => CsvTable.Read(path, skipMalformedRows: true));

        Assert.Contains(path, error.Message);
        Assert.Contains("truncated or corrupt", error.Message);
        Assert.DoesNotContain("\n", error.Message);
    }

    [Fact]
    public void CorruptGzip_IsAnErrorNamingTheFile()
    {
        byte[] bytes = GzippedTable();
        for (int i = bytes.Length / 2; i < bytes.Length / 2 + 16; i++)
            bytes[i] ^= 0x5A;
        string path = PathOf("labels.csv.gz");
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<InvalidDataException>(() => CsvTable.Read(path, skipMalformedRows: true));

        Assert.Contains(path, error.Message);
        Assert.Contains("truncated or corrupt", error.Message);
    }

    [Fact]
    public void PlainTextNamedGz_IsAnErrorNamingTheFile()
    {
        string path = PathOf("split.csv.gz");
        File.WriteAllText(path, "dicom_id,split\na,train\n");

        var error = Assert.Throws<InvalidDataException>(() => CsvTable.Read(path));

        Assert.Contains(path, error.Message);
        Assert.Contains("not gzip", error.Message);
    }

    [Fact]
    public void WholeGzip_AndTwoConcatenatedMembers_ReadCompletely()
    {
        byte[] whole = GzippedTable();
        string path = PathOf("labels.csv.gz");
        File.WriteAllBytes(path, whole);
        Assert.Equal(5000, CsvTable.Read(path).Rows.Count);

        using var second = new MemoryStream();
        using (var gzip = new GZipStream(second, CompressionLevel.Fastest, leaveOpen: true))
            gzip.Write("1,0.0\n2,1.0\n"u8);
        File.WriteAllBytes(path, [.. whole, .. second.ToArray()]);
        Assert.Equal(5002, CsvTable.Read(path).Rows.Count);
    }
}
