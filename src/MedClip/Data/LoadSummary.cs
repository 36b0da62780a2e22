using System.Text.Json.Nodes;

namespace MedClip.Data;

/// <summary>How many samples a reader kept, and how many it skipped for each reason.</summary>
public sealed class LoadSummary
{
    public const string FileName = "data_summary.json";

    private readonly SortedDictionary<string, long> _skipped = new(StringComparer.Ordinal);

    public long Kept { get; private set; }

    public IReadOnlyDictionary<string, long> Skipped => _skipped;

    public long SkippedTotal => _skipped.Values.Sum();

    internal void CountKept(long count = 1) => Kept += count;

    internal void CountSkipped(string reason, long count = 1)
    {
        if (count > 0)
            _skipped[reason] = _skipped.GetValueOrDefault(reason) + count;
    }

    /// <summary>Moves <paramref name="count"/> kept samples to skipped under <paramref name="reason"/> (a later stage rejected them).</summary>
    internal void Reject(string reason, long count = 1)
    {
        Kept -= count;
        CountSkipped(reason, count);
    }

    public JsonObject ToJson() => new()
    {
        ["kept"] = Kept,
        ["skipped_total"] = SkippedTotal,
        ["skipped"] = new JsonObject(_skipped.Select(pair => KeyValuePair.Create(pair.Key, (JsonNode?)pair.Value))),
    };

    public static LoadSummary FromJson(JsonNode node)
    {
        var summary = new LoadSummary { Kept = node["kept"]!.GetValue<long>() };
        foreach ((string reason, JsonNode? count) in node["skipped"]!.AsObject())
            summary.CountSkipped(reason, count!.GetValue<long>());
        return summary;
    }

    /// <summary>Writes the summary as JSON into <paramref name="folder"/>.</summary>
    public void Save(string folder) =>
        File.WriteAllText(Path.Combine(folder, FileName), ToJson().ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));

    public override string ToString() =>
        _skipped.Count == 0
            ? $"kept {Kept}"
            : $"kept {Kept}, skipped {SkippedTotal} ({string.Join(", ", _skipped.Select(pair => $"{pair.Value} {pair.Key}"))})";
}
