using System.Diagnostics;

namespace MedClip.Training;

/// <summary>Another live process holds the run folder.</summary>
public sealed class RunFolderInUseException(string message) : IOException(message);

/// <summary>
/// Ownership of a run folder: <c>run.lock</c> held open with an exclusive OS lock (flock on Linux, which .NET takes for
/// FileShare.None), and the owner's process id in <c>run.lock.pid</c> (a locked file cannot be read by another .NET
/// process). The OS drops the lock when the process ends however it ends, so files left by a killed run are
/// recognised as stale (lockable, the pid gone) and taken over.
/// </summary>
public sealed class RunFolderLock : IDisposable
{
    public const string FileName = "run.lock";
    public const string PidFileName = "run.lock.pid";

    private readonly FileStream _stream;
    private readonly string _pidPath;

    private RunFolderLock(FileStream stream, string path, string pidPath, int? stalePid)
    {
        _stream = stream;
        Path = path;
        _pidPath = pidPath;
        StalePid = stalePid;
    }

    public string Path { get; }

    /// <summary>The process id found in a lock file whose holder had ended, or null.</summary>
    public int? StalePid { get; }

    /// <summary>Locks <paramref name="folder"/> (which must exist) or throws <see cref="RunFolderInUseException"/> naming the holder.</summary>
    public static RunFolderLock Acquire(string folder)
    {
        string path = System.IO.Path.Combine(folder, FileName), pidPath = System.IO.Path.Combine(folder, PidFileName);
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (e is not (FileNotFoundException or DirectoryNotFoundException))
        {
            int? holder = ReadPid(pidPath);
            throw new RunFolderInUseException($"'{folder}' is in use by {(holder is int pid ? $"process {pid}" : "another process")} (it holds {path}); " +
                "wait for that run to end or choose another folder.");
        }
        int? previous = ReadPid(pidPath);
        int? stale = previous is int p && p != Environment.ProcessId && !IsAlive(p) ? p : null;
        try
        {
            IO.AtomicFile.WriteAllText(pidPath, Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        catch
        {
            stream.Dispose();
            throw;
        }
        return new RunFolderLock(stream, path, pidPath, stale);
    }

    /// <summary>Deletes the lock file while still holding it, then releases the lock.</summary>
    public void Dispose()
    {
        try
        {
            File.Delete(_pidPath);
            File.Delete(Path);
        }
        catch (IOException)
        {
            // the lock itself is released below either way; a leftover file is recognised as stale
        }
        _stream.Dispose();
    }

    private static int? ReadPid(string pidPath)
    {
        try
        {
            return int.TryParse(File.ReadAllText(pidPath).Trim(), out int pid) ? pid : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
