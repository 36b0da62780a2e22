namespace MedClip.IO;

/// <summary>Recognises the write errors that mean "no room": ENOSPC, EDQUOT (quota), EFBIG (file-size limit) on Unix, ERROR_DISK_FULL on Windows.</summary>
public static class DiskFull
{
    private const int NoSpace = 28, Quota = 122, FileTooLarge = 27, WindowsDiskFull = 0x70, WindowsHandleDiskFull = 0x27;

    public static bool Is(IOException e) =>
        e.HResult is NoSpace or Quota or FileTooLarge || (e.HResult & 0xFFFF) is WindowsDiskFull or WindowsHandleDiskFull && e.HResult < 0;
}
