using MedClip.IO;

namespace MedClip.Data.Shards;

/// <summary>
/// The token ids prep stored with each sample (<see cref="Text.ReportTokenizer.TokenIds"/> of its text: no [CLS], [SEP]
/// or padding, not truncated) and the folder holding the vocab.txt they index. Keyed by the sample's image reference,
/// which is unique within a shard set. The manifest's SHA-256 of that vocab.txt and its casing say whether a run's
/// tokenizer is the one the ids came from.
/// </summary>
public sealed record PreparedTokens(string VocabularyFolder, string VocabularySha256, bool LowerCase, IReadOnlyDictionary<string, int[]> ByImagePath)
{
    public bool MadeBy(string vocabularyPath, bool lowerCase) => LowerCase == lowerCase && FileHash.Sha256(vocabularyPath) == VocabularySha256;

    public bool TryGet(ImageTextSample sample, out int[] tokenIds) => ByImagePath.TryGetValue(sample.ImagePath, out tokenIds!);
}
