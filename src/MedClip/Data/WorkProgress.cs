namespace MedClip.Data;

/// <summary>How far a long stage has come (generating studies, writing shards, encoding images, bootstrap resamples).</summary>
public readonly record struct WorkProgress(string Stage, long Done, long Total);
