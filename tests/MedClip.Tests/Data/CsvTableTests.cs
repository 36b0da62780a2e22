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
}
