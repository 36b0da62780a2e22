using System.Text;

namespace MedClip.Data;

/// <summary>Writes RFC 4180 CSV with '\n' line ends, quoting only the fields that need it.</summary>
public static class CsvWriter
{
    public static void Write(string path, IReadOnlyList<string> columns, IEnumerable<IReadOnlyList<string>> rows)
    {
        var text = new StringBuilder();
        AppendRecord(text, columns);
        foreach (IReadOnlyList<string> row in rows)
        {
            if (row.Count != columns.Count)
                throw new ArgumentException($"A row for '{path}' has {row.Count} fields where the header has {columns.Count}.");
            AppendRecord(text, row);
        }
        File.WriteAllText(path, text.ToString(), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
    }

    private static void AppendRecord(StringBuilder text, IReadOnlyList<string> fields)
    {
        for (int i = 0; i < fields.Count; i++)
        {
            if (i > 0)
                text.Append(',');
            string field = fields[i];
            if (field.AsSpan().IndexOfAny(",\"\r\n") >= 0)
                text.Append('"').Append(field.Replace("\"", "\"\"")).Append('"');
            else
                text.Append(field);
        }
        text.Append('\n');
    }
}
