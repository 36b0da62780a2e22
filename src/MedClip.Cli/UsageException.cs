namespace MedClip.Cli;

/// <summary>An error the user can fix (a bad option value, an unavailable device): Program prints its one-sentence message and exits with 2.</summary>
public sealed class UsageException(string message) : Exception(message);
