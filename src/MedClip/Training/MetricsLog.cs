using System.Text.Json.Nodes;

namespace MedClip.Training;

/// <summary>metrics.jsonl: one JSON object per line, flushed as written so a crash loses nothing logged; NaN and infinity are written as null with a reason.</summary>
public sealed class MetricsLog : IMetricsSink
{
    private readonly StreamWriter _writer;

    public MetricsLog(string path, bool append)
    {
        _writer = new StreamWriter(new FileStream(path, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.Read));
    }

    public void Write(JsonObject line)
    {
        _writer.WriteLine(IO.FiniteJson.ToLine(line));
        _writer.Flush();
    }

    public void Dispose() => _writer.Dispose();

    /// <summary>
    /// Before a resume appends to <paramref name="path"/>: drops the lines of steps after <paramref name="step"/> (a
    /// crash after the checkpoint logged steps that the resumed run repeats) and a torn last line; rewritten atomically.
    /// </summary>
    public static void KeepThrough(string path, int step)
    {
        if (!File.Exists(path)) return;
        var kept = new List<string>();
        bool dropped = false;
        foreach (string line in File.ReadLines(path).Where(l => l.Length > 0))
        {
            JsonNode? node;
            try
            {
                node = JsonNode.Parse(line);
            }
            catch (System.Text.Json.JsonException)
            {
                node = null;
            }
            if (node is JsonObject o && (int?)o["step"] is int s && s <= step) kept.Add(line);
            else dropped = true;
        }
        if (dropped) IO.AtomicFile.WriteAllText(path, string.Concat(kept.Select(l => l + "\n")));
    }

    /// <summary>The parsed lines of a metrics file (tests, resume checks).</summary>
    public static IReadOnlyList<JsonObject> Read(string path) =>
        File.ReadLines(path).Where(l => l.Length > 0).Select(l => (JsonObject)JsonNode.Parse(l)!).ToList();
}
