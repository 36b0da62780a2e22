namespace MedClip.Cli;

/// <summary>Output folders are checked before any work starts, so that a read-only or mistyped --out fails in one sentence, not after hours.</summary>
internal static class OutputFolders
{
    /// <summary>Creates <paramref name="folder"/> when missing and proves it writable with a probe file; throws <see cref="UsageException"/> naming <paramref name="option"/>.</summary>
    public static void RequireWritable(string folder, string option)
    {
        string probe = Path.Combine(folder, $".medclip-write-test-{Environment.ProcessId}");
        try
        {
            Directory.CreateDirectory(folder);
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string why = e is UnauthorizedAccessException ? "permission denied" : IO.DiskFull.Is((IOException)e) ? "the disk is full" : e.Message;
            throw new UsageException($"{option} '{folder}' cannot be written ({why}); choose a writable folder.");
        }
    }
}
