namespace MedClip.Data.Loading;

/// <summary>Thread-safe counts of skipped samples by reason, keeping the first message of each reason as an example.</summary>
public sealed class SkipCounter
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, long> _counts = [];
    private readonly Dictionary<string, string> _firstMessages = [];

    public void Record(SampleSkippedException skip)
    {
        lock (_gate)
        {
            _counts[skip.Reason] = _counts.GetValueOrDefault(skip.Reason) + 1;
            _firstMessages.TryAdd(skip.Reason, skip.Message);
        }
    }

    public long Total
    {
        get
        {
            lock (_gate)
                return _counts.Values.Sum();
        }
    }

    /// <summary>A snapshot of the counts, most frequent reason first.</summary>
    public IReadOnlyList<KeyValuePair<string, long>> Counts
    {
        get
        {
            lock (_gate)
                return [.. _counts.OrderByDescending(c => c.Value).ThenBy(c => c.Key, StringComparer.Ordinal)];
        }
    }

    /// <summary>The message of the first sample skipped for <paramref name="reason"/>, or null if none was.</summary>
    public string? FirstMessage(string reason)
    {
        lock (_gate)
            return _firstMessages.GetValueOrDefault(reason);
    }

    /// <summary>For example "3 skipped (corrupt image: 2, missing file: 1)", or "none skipped".</summary>
    public string Summary()
    {
        IReadOnlyList<KeyValuePair<string, long>> counts = Counts;
        return counts.Count == 0
            ? "none skipped"
            : $"{counts.Sum(c => c.Value)} skipped ({string.Join(", ", counts.Select(c => $"{c.Key}: {c.Value}"))})";
    }
}
