using System.Text;

namespace MedClip.Data;

/// <summary>
/// An RFC 4180 CSV file read whole: a header row, then records whose fields are found by column
/// name, so the columns may come in any order. Quoted fields may hold commas, doubled quotes and
/// line breaks. A path ending in .gz is decompressed and checked whole first (<see cref="GzipFile"/>), so a truncated
/// table is an error, never a partial read.
/// </summary>
public sealed class CsvTable
{
    private readonly Dictionary<string, int> _columnIndex;

    public string Path { get; }
    public IReadOnlyList<string> Columns { get; }
    public IReadOnlyList<string[]> Rows { get; }

    /// <summary>Line numbers of the records skipped for having the wrong number of fields (only when asked to skip them).</summary>
    public IReadOnlyList<int> MalformedRows { get; }

    private CsvTable(string path, string[] columns, List<string[]> rows, List<int> malformedRows)
    {
        Path = path;
        Columns = columns;
        Rows = rows;
        MalformedRows = malformedRows;
        _columnIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < columns.Length; i++)
            _columnIndex.TryAdd(columns[i], i);
    }

    /// <summary>The index of a column; a missing one is an error naming the file and the column.</summary>
    public int ColumnIndex(string column) =>
        _columnIndex.TryGetValue(column, out int index)
            ? index
            : throw new InvalidDataException(
                $"'{Path}' has no column '{column}' (its columns are {string.Join(", ", Columns)}); check that it is the right file.");

    public bool HasColumn(string column) => _columnIndex.ContainsKey(column);

    /// <summary>
    /// Reads the table. A record with more or fewer fields than the header is an error, or with
    /// <paramref name="skipMalformedRows"/> is left out and its line listed in <see cref="MalformedRows"/>.
    /// </summary>
    /// <param name="separator">The field separator: ',' for CSV, '\t' for tab-separated files.</param>
    public static CsvTable Read(string path, bool skipMalformedRows = false, char separator = ',')
    {
        IO.PosixFileSystem.RequireRegularFile(path);
        using Stream content = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)
            ? GzipFile.Decompress(path)
            : new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        using var reader = new StreamReader(content, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);

        int line = 1;
        string[]? header = ReadRecord(reader, path, separator, ref line);
        if (header is null)
            throw new InvalidDataException($"'{path}' is empty; it should start with a header row of column names.");

        var rows = new List<string[]>();
        var malformed = new List<int>();
        while (true)
        {
            int recordLine = line;
            string[]? record = ReadRecord(reader, path, separator, ref line);
            if (record is null)
                break;
            if (record is [""])
                continue; // a blank line, e.g. at the end of the file
            if (record.Length != header.Length && skipMalformedRows)
            {
                malformed.Add(recordLine);
                continue;
            }
            if (record.Length != header.Length)
                throw new InvalidDataException(
                    $"'{path}' line {recordLine} has {record.Length} fields where the header has {header.Length}; the file is malformed or truncated.");
            rows.Add(record);
        }
        return new CsvTable(path, header, rows, malformed);
    }

    /// <summary>Reads one record; null at the end of the input. Counts line breaks in <paramref name="line"/>.</summary>
    private static string[]? ReadRecord(StreamReader reader, string path, char separator, ref int line)
    {
        if (reader.Peek() < 0)
            return null;
        var fields = new List<string>();
        var field = new StringBuilder();
        int startLine = line;
        bool quoted = false;
        while (true)
        {
            int c = reader.Read();
            if (quoted)
            {
                if (c < 0)
                    throw new InvalidDataException($"'{path}' has a quoted field opened on line {startLine} that never closes; the file is malformed or truncated.");
                if (c == '"')
                {
                    if (reader.Peek() == '"')
                    {
                        reader.Read();
                        field.Append('"');
                    }
                    else
                    {
                        quoted = false;
                    }
                }
                else
                {
                    if (c == '\n')
                        line++;
                    field.Append((char)c);
                }
                continue;
            }
            switch (c)
            {
                case '"' when field.Length == 0:
                    quoted = true;
                    break;
                case var _ when c == separator:
                    fields.Add(field.ToString());
                    field.Clear();
                    break;
                case '\r':
                    break;
                case '\n' or -1:
                    if (c == '\n')
                        line++;
                    fields.Add(field.ToString());
                    return fields.ToArray();
                default:
                    field.Append((char)c);
                    break;
            }
        }
    }
}
