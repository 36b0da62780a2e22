namespace MedClip.Data.Loading;

/// <summary>
/// Thrown by a loader's prepare function when one item's data is unusable (a missing or corrupt image, an empty
/// report). The loader skips the item, counts it under <see cref="Reason"/> and fills the batch with the next items;
/// any other exception is a bug and stops the epoch.
/// </summary>
public class SampleSkippedException : Exception
{
    /// <summary>A short label that skips are counted by, such as "corrupt image" or "missing file".</summary>
    public string Reason { get; }

    public SampleSkippedException(string reason)
        : this(reason, $"The sample was skipped: {reason}.")
    {
    }

    public SampleSkippedException(string reason, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        Reason = reason;
    }
}
