namespace MedClip.Serve;

/// <summary>Where the web app listens (port 0: any free port) and the largest upload it accepts.</summary>
public sealed record ServeOptions(string Host, int Port, long MaxUploadBytes = ServeOptions.DefaultMaxUploadBytes)
{
    public const long DefaultMaxUploadBytes = 20 * 1024 * 1024;
}
