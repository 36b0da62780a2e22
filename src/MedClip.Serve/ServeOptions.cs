namespace MedClip.Serve;

/// <summary>
/// What the web app serves and where: the checkpoint folder and the index it must have made, the address to bind,
/// the largest upload accepted, and the prompts that an uploaded image is read with.
/// </summary>
public sealed record ServeOptions(string Checkpoint, string Index, string Host, int Port, long MaxUploadBytes = ServeOptions.DefaultMaxUploadBytes)
{
    public const long DefaultMaxUploadBytes = 20 * 1024 * 1024;
}
