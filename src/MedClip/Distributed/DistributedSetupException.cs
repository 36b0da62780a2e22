namespace MedClip.Distributed;

/// <summary>A distributed launch that cannot work as configured (missing library, bad environment, mismatched ranks).</summary>
public sealed class DistributedSetupException(string message) : Exception(message);
