using System.Text.Json;
using System.Text.Json.Nodes;

namespace MedClip.Training;

/// <summary>metrics.jsonl: one JSON object per line, flushed as written so a crash loses nothing logged.</summary>
public sealed class MetricsLog : IMetricsSink
{
    private readonly StreamWriter _writer;

    public MetricsLog(string path, bool append)
    {
        _writer = new StreamWriter(new FileStream(path, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.Read));
    }

    public void Write(JsonObject line)
    {
        _writer.WriteLine(line.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        _writer.Flush();
    }

    public void Dispose() => _writer.Dispose();

    /// <summary>The parsed lines of a metrics file (tests, resume checks).</summary>
    public static IReadOnlyList<JsonObject> Read(string path) =>
        File.ReadLines(path).Where(l => l.Length > 0).Select(l => (JsonObject)JsonNode.Parse(l)!).ToList();
}
