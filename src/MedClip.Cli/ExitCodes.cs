using MedClip.Training;

namespace MedClip.Cli;

/// <summary>
/// The exit codes of medclip-train (docs/reliability.md): 0 done; 1 failed (training stopped on non-finite values or a
/// full disk, an internal error); 2 a usage or input error the user can fix; 130 and 143 a run interrupted by SIGINT or
/// SIGTERM after writing a resumable checkpoint (<see cref="InterruptSignals"/>).
/// </summary>
internal static class ExitCodes
{
    public const int Done = 0, Failed = 1, Usage = 2;

    /// <summary>2 for what the user can fix (a bad option, path, file or folder), 1 for everything else.</summary>
    public static int For(Exception e) => IsUsage(e) ? Usage : Failed;

    /// <summary>One sentence for the user; an internal error's stack trace goes to a file whose path the sentence names.</summary>
    public static string Describe(Exception e)
    {
        if (e is IOException io && IO.DiskFull.Is(io)) return $"The disk is full: {e.Message}";
        if (IsUsage(e) || e is IOException) return e.Message;
        string details = Path.Combine(Path.GetTempPath(), $"medclip-train-error-{Environment.ProcessId}.txt");
        try
        {
            File.WriteAllText(details, e.ToString());
        }
        catch (Exception write) when (write is IOException or UnauthorizedAccessException)
        {
            return $"Internal error ({e.GetType().Name}): {e.Message}";
        }
        return $"Internal error ({e.GetType().Name}): {e.Message} Details: {details}";
    }

    private static bool IsUsage(Exception e) =>
        e is UsageException or Distributed.DistributedSetupException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException
            or ArgumentException or UnauthorizedAccessException or RunFolderInUseException;
}
