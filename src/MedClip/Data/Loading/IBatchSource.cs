namespace MedClip.Data.Loading;

/// <summary>Batches of one split, epoch by epoch, in a deterministic order given the seed.</summary>
public interface IBatchSource
{
    int BatchesPerEpoch { get; }

    /// <summary>The batches of <paramref name="epoch"/> from batch index <paramref name="startBatch"/> on (resume skips the rest unprepared).</summary>
    IEnumerable<Batch> Epoch(int epoch, int startBatch);

    /// <summary>
    /// The batches of <paramref name="epoch"/> from item position <paramref name="startPosition"/> of its order on (a
    /// batch's <see cref="Batch.EndPosition"/>): exact also when earlier items were skipped. Sources that set
    /// EndPosition implement it.
    /// </summary>
    IEnumerable<Batch> EpochFromPosition(int epoch, int startPosition) =>
        throw new NotSupportedException($"{GetType().Name} does not track item positions.");
}
