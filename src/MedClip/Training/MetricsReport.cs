using System.Text.Json.Nodes;

namespace MedClip.Training;

/// <summary>
/// The sinks of <c>--report-to</c>: jsonl (metrics.jsonl in the run folder, the default) and tensorboard (event files
/// under tensorboard/). Every line goes to each of them.
/// </summary>
public sealed class MetricsReport : IMetricsSink
{
    public const string Jsonl = "jsonl";
    public const string TensorBoard = "tensorboard";
    public const string MetricsFile = "metrics.jsonl";
    public const string TensorBoardFolder = "tensorboard";

    public static readonly string[] Names = [Jsonl, TensorBoard];

    private readonly IReadOnlyList<IMetricsSink> _sinks;

    private MetricsReport(IReadOnlyList<IMetricsSink> sinks) => _sinks = sinks;

    /// <param name="append">A resumed run appends to metrics.jsonl; TensorBoard gets a new event file beside the old ones.</param>
    public static MetricsReport Open(string runFolder, IReadOnlyList<string> reportTo, bool append)
    {
        var sinks = new List<IMetricsSink>();
        foreach (string name in reportTo.Distinct())
        {
            sinks.Add(name switch
            {
                Jsonl => new MetricsLog(Path.Combine(runFolder, MetricsFile), append),
                TensorBoard => TensorBoardEventWriter.Create(Path.Combine(runFolder, TensorBoardFolder)),
                _ => throw new ArgumentException($"--report-to '{name}' is not one of {string.Join(", ", Names)}."),
            });
        }
        return new MetricsReport(sinks);
    }

    /// <summary>Checks a --report-to list: comma-separated names from <see cref="Names"/>, at least one.</summary>
    public static string[] Parse(string text)
    {
        string[] names = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        string? unknown = names.FirstOrDefault(n => !Names.Contains(n));
        if (names.Length == 0 || unknown is not null)
            throw new ArgumentException($"--report-to '{text}': give one or more of {string.Join(", ", Names)}, comma-separated.");
        return names;
    }

    public void Write(JsonObject line)
    {
        foreach (var sink in _sinks) sink.Write(line);
    }

    public void Dispose()
    {
        foreach (var sink in _sinks) sink.Dispose();
    }
}
