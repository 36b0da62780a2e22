using MedClip.Data.Loading;

namespace MedClip.Data.Images;

/// <summary>
/// An image file that cannot be used, with the reason as one of the short labels below so that a loader can count
/// rejections by reason. It is a <see cref="SampleSkippedException"/>, so a loader's prepare function can let it pass.
/// </summary>
public sealed class ImageRejectedException(string path, string reason, string message, Exception? innerException = null)
    : SampleSkippedException(reason, message, innerException)
{
    public const string MissingFile = "missing file";
    public const string NotRegularFile = "not a regular file";
    public const string UnreadableFile = "unreadable file";
    public const string EmptyFile = "empty file";
    public const string UnknownFormat = "unknown format";
    public const string CorruptImage = "corrupt image";
    public const string UnsupportedImage = "unsupported image";
    public const string TooLarge = "image too large";

    /// <summary>The image file as it was given.</summary>
    public string Path { get; } = path;
}
