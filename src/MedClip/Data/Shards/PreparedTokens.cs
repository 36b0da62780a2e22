namespace MedClip.Data.Shards;

/// <summary>
/// The token ids prep stored with each sample (<see cref="Text.ReportTokenizer.TokenIds"/> of its text: no [CLS], [SEP]
/// or padding, not truncated) and the folder holding the vocab.txt they index. Keyed by the sample's image reference,
/// which is unique within a shard set.
/// </summary>
public sealed record PreparedTokens(string VocabularyFolder, IReadOnlyDictionary<string, int[]> ByImagePath)
{
    public bool TryGet(ImageTextSample sample, out int[] tokenIds) => ByImagePath.TryGetValue(sample.ImagePath, out tokenIds!);
}
