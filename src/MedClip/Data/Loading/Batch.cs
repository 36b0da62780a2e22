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
}
