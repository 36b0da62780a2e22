using MedClip.Evaluation;
using MedClip.Inference;
using MedClip.Models;

namespace MedClip.Serve;

/// <summary>
/// The loaded checkpoint, its index and its zero-shot reader, shared by all requests. The model is used by one
/// request at a time (its tape and buffers are not meant for concurrent forwards); index lookups need no lock.
/// </summary>
public sealed class ServeState(CheckpointModel model, string checkpoint, ImageIndex index, ZeroShotReader reader)
{
    private readonly Lock _model = new();

    public string Checkpoint { get; } = checkpoint;
    public ImageIndex Index { get; } = index;
    public ZeroShotReader Reader { get; } = reader;

    public T WithModel<T>(Func<CheckpointModel, T> use)
    {
        lock (_model) return use(model);
    }

    /// <summary>The full path of an indexed image, or null for a path that is not in the index or leaves its folder.</summary>
    public string? IndexedFile(string? relative)
    {
        if (string.IsNullOrEmpty(relative) || Index.RowOf(relative) is null) return null;
        string full = Path.GetFullPath(Path.Combine(Index.Root, relative));
        string root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(Index.Root)) + Path.DirectorySeparatorChar;
        return full.StartsWith(root, StringComparison.Ordinal) ? full : null;
    }

    public TrainingCurves? Curves() => TrainingCurves.ForCheckpoint(Checkpoint);
}
