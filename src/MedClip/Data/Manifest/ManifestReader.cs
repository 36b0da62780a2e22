using System.Text;
using System.Text.Json;

namespace MedClip.Data.Manifest;

/// <summary>
/// Reads a manifest: a CSV or tab-separated file (header row; the separator detected or given) or a JSONL file (.jsonl, one JSON object per line) with an image path
/// and a text per row, under the column names of <see cref="DatasetOptions"/>, and optionally a split column
/// (train, validate or validation, test; rows of a manifest without one are training rows). Image paths are relative
/// to the manifest's folder; a path that leaves it (an absolute path, or ".." climbing out) is refused unless
/// <see cref="DatasetOptions.AllowOutsideRoot"/> is set. Unusable rows are skipped and counted by reason.
/// Label columns hold 1 (positive), 0 (negative), -1 (uncertain) or blank (unknown), under any names: those that
/// <see cref="DatasetOptions.LabelColumns"/> declares, else every other column whose values are all of that kind.
/// </summary>
public static class ManifestReader
{
    public const string SkippedMalformedRow = "malformed manifest row";
    public const string SkippedNoImagePath = "no image path";
    public const string SkippedOutsideRoot = "image path outside the manifest's folder";
    public const string SkippedUnknownSplit = "unknown split";
    public const string SkippedMissingImage = "missing image";

    public static RawDataset Read(string manifestPath, DatasetOptions options)
    {
        if (!File.Exists(manifestPath))
            throw new FileNotFoundException($"Manifest '{manifestPath}' does not exist; give a CSV or JSONL file with '{options.ImageColumn}' and '{options.TextColumn}' columns.", manifestPath);
        IO.PosixFileSystem.RequireRegularFile(manifestPath);
        string root = Path.GetFullPath(Path.GetDirectoryName(Path.GetFullPath(manifestPath))!);
        var summary = new LoadSummary();
        var samples = new List<ImageTextSample>();
        int row = 0;
        var rows = Rows(manifestPath, options, summary).ToList();
        var labelColumns = LabelColumns(manifestPath, rows, options);
        foreach (IReadOnlyDictionary<string, string>? fields in rows)
        {
            row++;
            if (fields is null)
            {
                summary.CountSkipped(SkippedMalformedRow);
                continue;
            }
            string image = fields.GetValueOrDefault(options.ImageColumn, "").Trim();
            if (image.Length == 0)
            {
                summary.CountSkipped(SkippedNoImagePath);
                continue;
            }
            string? path = Resolve(root, image, options.AllowOutsideRoot);
            if (path is null)
            {
                summary.CountSkipped(SkippedOutsideRoot);
                continue;
            }
            string? split = NormalizeSplit(fields.GetValueOrDefault(options.SplitColumn, "train"));
            if (split is null)
            {
                summary.CountSkipped(SkippedUnknownSplit);
                continue;
            }
            if (!File.Exists(path))
            {
                summary.CountSkipped(SkippedMissingImage);
                continue;
            }
            string id = row.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var labels = new Dictionary<string, float?>(StringComparer.Ordinal);
            foreach (string column in labelColumns)
            {
                if (!TryLabel(fields.GetValueOrDefault(column, ""), out float? value))
                    throw new InvalidDataException($"Manifest '{manifestPath}' row {row}: label column '{column}' holds '{fields[column]}'; use 1, 0, -1 or blank.");
                labels[column] = value;
            }
            samples.Add(new ImageTextSample(path, fields.GetValueOrDefault(options.TextColumn, ""), split, "", id, Path.GetFileNameWithoutExtension(path), null, labels));
            summary.CountKept();
        }
        return new RawDataset(samples, summary);
    }

    /// <summary>
    /// The full path of <paramref name="image"/> under <paramref name="root"/>, or null when it leaves the root and that is
    /// not allowed: by its name, or through a symlink (in the image's path or the file itself) that resolves outside.
    /// </summary>
    public static string? Resolve(string root, string image, bool allowOutsideRoot)
    {
        if (Path.IsPathRooted(image))
            return allowOutsideRoot ? Path.GetFullPath(image) : null;
        string full = Path.GetFullPath(Path.Combine(root, image));
        if (allowOutsideRoot) return full;
        string prefix = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        return full.StartsWith(prefix, StringComparison.Ordinal) && IO.PosixFileSystem.IsInside(full, root) ? full : null;
    }

    /// <summary>The declared label columns (each must exist), or the detected ones in first-seen order.</summary>
    private static IReadOnlyList<string> LabelColumns(string path, List<IReadOnlyDictionary<string, string>?> rows, DatasetOptions options)
    {
        var columns = rows.OfType<IReadOnlyDictionary<string, string>>().SelectMany(r => r.Keys).Distinct().ToList();
        if (options.LabelColumns is { } declared)
        {
            if (declared.FirstOrDefault(c => !columns.Contains(c)) is { } missing)
                throw new InvalidDataException($"Manifest '{path}' has no column '{missing}' named by --label-columns; its columns are {string.Join(", ", columns)}.");
            return declared;
        }
        string[] reserved = [options.ImageColumn, options.TextColumn, options.SplitColumn];
        return columns.Where(c => !reserved.Contains(c)
            && rows.OfType<IReadOnlyDictionary<string, string>>().All(r => TryLabel(r.GetValueOrDefault(c, ""), out _))).ToList();
    }

    /// <summary>Reads 1, 0 or -1 (also as 1.0, 0.0, -1.0) and blank or JSON null as unknown; false for anything else.</summary>
    private static bool TryLabel(string field, out float? value)
    {
        field = field.Trim();
        value = null;
        if (field.Length == 0 || field == "null") return true;
        if (!double.TryParse(field, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double number)
            || number is not (1 or 0 or -1)) return false;
        value = (float)number;
        return true;
    }

    private static string? NormalizeSplit(string split) => split.Trim().ToLowerInvariant() switch
    {
        "" or "train" => "train",
        "validate" or "validation" or "val" => "validate",
        "test" => "test",
        _ => null,
    };

    /// <summary>Each row's fields by column name; null for a row that cannot be read.</summary>
    private static IEnumerable<IReadOnlyDictionary<string, string>?> Rows(string path, DatasetOptions options, LoadSummary summary)
    {
        if (path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase))
            return JsonLines(path);
        CsvTable table = CsvTable.Read(path, skipMalformedRows: true, options.CsvSeparator ?? DetectSeparator(path, options.ImageColumn));
        summary.CountSkipped(SkippedMalformedRow, table.MalformedRows.Count);
        foreach (string column in new[] { options.ImageColumn, options.TextColumn })
            table.ColumnIndex(column); // a missing column is an error naming the file, not a skip per row
        return table.Rows.Select(row => (IReadOnlyDictionary<string, string>?)table.Columns.Select((name, i) => (name, i))
            .DistinctBy(c => c.name).ToDictionary(c => c.name, c => row[c.i], StringComparer.Ordinal));
    }

    /// <summary>
    /// Tab or comma, from the header row: the one that splits off the image column, else the one that splits the row
    /// into more fields, else comma. open_clip's manifests are tab-separated, most others comma-separated.
    /// </summary>
    public static char DetectSeparator(string path, string imageColumn)
    {
        using var reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        string header = reader.ReadLine() ?? "";
        char[] candidates = [',', '\t'];
        foreach (char separator in candidates)
        {
            if (header.Split(separator).Any(column => column.Trim('"') == imageColumn))
                return separator;
        }
        return header.Count(c => c == '\t') > header.Count(c => c == ',') ? '\t' : ',';
    }

    private static IEnumerable<IReadOnlyDictionary<string, string>?> JsonLines(string path)
    {
        foreach (string line in File.ReadLines(path, Encoding.UTF8))
        {
            if (string.IsNullOrWhiteSpace(line))
                continue;
            Dictionary<string, string>? fields = null;
            try
            {
                using JsonDocument document = JsonDocument.Parse(line);
                if (document.RootElement.ValueKind == JsonValueKind.Object)
                {
                    fields = new Dictionary<string, string>(StringComparer.Ordinal);
                    foreach (JsonProperty property in document.RootElement.EnumerateObject())
                        fields[property.Name] = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString()! : property.Value.GetRawText();
                }
            }
            catch (JsonException)
            {
                fields = null;
            }
            yield return fields;
        }
    }
}
