namespace MedClip.Data;

/// <summary>How many samples a reader kept, and how many it skipped for each reason.</summary>
public sealed class LoadSummary
{
    private readonly SortedDictionary<string, int> _skipped = new(StringComparer.Ordinal);

    public int Kept { get; private set; }

    public IReadOnlyDictionary<string, int> Skipped => _skipped;

    public int SkippedTotal => _skipped.Values.Sum();

    internal void CountKept() => Kept++;

    internal void CountSkipped(string reason) => _skipped[reason] = _skipped.GetValueOrDefault(reason) + 1;

    public override string ToString() =>
        _skipped.Count == 0
            ? $"kept {Kept}"
            : $"kept {Kept}, skipped {SkippedTotal} ({string.Join(", ", _skipped.Select(pair => $"{pair.Value} {pair.Key}"))})";
}
