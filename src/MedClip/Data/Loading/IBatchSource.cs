namespace MedClip.Data.Loading;

/// <summary>Batches of one split, epoch by epoch, in a deterministic order given the seed.</summary>
public interface IBatchSource
{
    int BatchesPerEpoch { get; }

    /// <summary>The batches of <paramref name="epoch"/> from batch index <paramref name="startBatch"/> on (resume skips the rest unprepared).</summary>
    IEnumerable<Batch> Epoch(int epoch, int startBatch);
}
