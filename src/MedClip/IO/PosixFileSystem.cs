using System.Runtime.InteropServices;

namespace MedClip.IO;

/// <summary>
/// What .NET does not say about a path on Linux: its file type (a FIFO blocks the thread that opens it until a writer
/// appears, so readers check first) and its real path with every symlink resolved (so a symlink cannot carry a path
/// out of a folder it was checked against). Elsewhere the checks are skipped: types read as regular, paths as given.
/// </summary>
public static partial class PosixFileSystem
{
    private const int AtCurrentDirectory = -100, StatxType = 0x1, StatxSize = 256, StatxModeOffset = 28;
    private const int TypeMask = 0xF000, Regular = 0x8000, Directory = 0x4000;

    /// <summary>Null for a regular file (after symlinks) or a path that cannot be examined; else what it is ("a FIFO", "a directory").</summary>
    public static string? NotRegularFile(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        Span<byte> buffer = stackalloc byte[StatxSize];
        int result;
        try
        {
            result = Statx(AtCurrentDirectory, path, 0, StatxType, ref MemoryMarshal.GetReference(buffer));
        }
        catch (EntryPointNotFoundException)
        {
            return null;
        }
        if (result != 0) return null; // missing or unreadable: the open that follows reports it
        int type = BitConverter.ToUInt16(buffer[StatxModeOffset..]) & TypeMask;
        return type switch
        {
            Regular => null,
            Directory => "a directory",
            0x1000 => "a FIFO (named pipe)",
            0x2000 => "a character device",
            0x6000 => "a block device",
            0xC000 => "a socket",
            _ => "not a regular file",
        };
    }

    /// <summary>Throws one sentence when <paramref name="path"/> exists but is not a regular file.</summary>
    public static void RequireRegularFile(string path)
    {
        if (NotRegularFile(path) is { } kind)
            throw new InvalidDataException($"'{path}' is {kind}, not a regular file; only regular files (or symlinks to them) are read.");
    }

    /// <summary>The absolute path with every symlink resolved, or null when it does not exist (or off Linux).</summary>
    public static string? RealPath(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        nint resolved = RealPathNative(path, 0);
        if (resolved == 0) return null;
        try
        {
            return Marshal.PtrToStringUTF8(resolved);
        }
        finally
        {
            Free(resolved);
        }
    }

    /// <summary>Whether <paramref name="path"/> lies inside <paramref name="folder"/> once symlinks are resolved (lexically when either cannot be resolved).</summary>
    public static bool IsInside(string path, string folder)
    {
        string full = RealPath(path) ?? Path.GetFullPath(path);
        string root = RealPath(folder) ?? Path.GetFullPath(folder);
        string prefix = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        return full.StartsWith(prefix, StringComparison.Ordinal);
    }

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int directory, string path, int flags, uint mask, ref byte buffer);

    [LibraryImport("libc", EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint RealPathNative(string path, nint resolved);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void Free(nint pointer);
}
