namespace MedClip.Data;

/// <summary>The samples a reader kept, their text as the dataset gives it, and the counts of what it skipped.</summary>
public sealed record RawDataset(IReadOnlyList<ImageTextSample> Samples, LoadSummary Summary);
