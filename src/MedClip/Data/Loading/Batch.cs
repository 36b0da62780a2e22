namespace MedClip.Data.Loading;

/// <summary>
/// <see cref="Count"/> prepared samples laid out back to back: Pixels is [Count, 3, size, size], TokenIds and
/// AttentionMask are [Count, context]. SampleIndices are the items' positions in the loader's item list, so a batch
/// can be traced back to its files.
/// </summary>
public sealed class Batch(float[] pixels, int[] tokenIds, int[] attentionMask, int[] sampleIndices)
{
    public float[] Pixels { get; } = pixels;
    public int[] TokenIds { get; } = tokenIds;
    public int[] AttentionMask { get; } = attentionMask;
    public int[] SampleIndices { get; } = sampleIndices;
    public int Count => SampleIndices.Length;

    /// <summary>The epoch the batch belongs to; with <see cref="EndPosition"/>, where an exact resume starts.</summary>
    public int Epoch { get; init; }

    /// <summary>
    /// The position in the epoch's item order just after the batch's last item, skipped items included (the loader's
    /// batches); null when the source does not track positions.
    /// </summary>
    public int? EndPosition { get; init; }

    /// <summary>The reasons of the items skipped since the previous batch of the epoch, one entry per item.</summary>
    public IReadOnlyList<string> SkippedBefore { get; init; } = [];
}
