using System.Globalization;

namespace MedClip.Distributed;

/// <summary>The collective timeout: its default, its environment variable, and the message every waiting rank prints.</summary>
public static class CollectiveTimeout
{
    /// <summary>MEDCLIP_COLLECTIVE_TIMEOUT: seconds one collective may take (default 1800, like PyTorch's NCCL default).</summary>
    public const string EnvironmentVariable = "MEDCLIP_COLLECTIVE_TIMEOUT";
    public static readonly TimeSpan Default = TimeSpan.FromMinutes(30);

    /// <summary>The exit code of a job aborted by a timed-out collective.</summary>
    public const int ExitCode = 3;

    /// <summary>The timeout from the option when given, else from MEDCLIP_COLLECTIVE_TIMEOUT, else the default.</summary>
    public static TimeSpan Resolve(double? seconds)
    {
        string? text = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (seconds is null && !string.IsNullOrWhiteSpace(text))
        {
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed))
                throw new ArgumentException($"{EnvironmentVariable}={text} is not a number of seconds.");
            seconds = parsed;
        }
        if (seconds is null) return Default;
        if (!(seconds > 0) || !double.IsFinite(seconds.Value))
            throw new ArgumentException($"The collective timeout {seconds} s must be a positive number of seconds.");
        return TimeSpan.FromSeconds(seconds.Value);
    }

    public static string Message(int rank, int worldSize, string what, TimeSpan timeout) => string.Create(CultureInfo.InvariantCulture,
        $"Rank {rank} of {worldSize}: {what} did not complete within {timeout.TotalSeconds:0.###} s ({EnvironmentVariable}); another rank has probably died or hung, so the job is aborted.");
}
