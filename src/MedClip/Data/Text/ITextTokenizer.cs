namespace MedClip.Data.Text;

/// <summary>Text to the token ids and attention mask a text tower reads, padded or cut to a context length.</summary>
public interface ITextTokenizer
{
    int VocabularySize { get; }

    /// <summary>Token ids and attention mask of one text, each exactly <paramref name="contextLength"/> long.</summary>
    (int[] Ids, int[] AttentionMask) Encode(string text, int contextLength);

    EncodedBatch EncodeBatch(IReadOnlyList<string> texts, int contextLength);

    /// <summary>Writes the tokenizer's files into <paramref name="folder"/>, so Hugging Face loads the same tokenizer from it.</summary>
    void Save(string folder);

    /// <summary>
    /// The tokenizer of a Hugging Face folder: CLIP's byte-level BPE when it holds vocab.json or merges.txt, otherwise
    /// BERT's WordPiece from vocab.txt.
    /// </summary>
    static ITextTokenizer FromFolder(string folder) =>
        File.Exists(Path.Combine(folder, ClipTokenizer.VocabularyFileName)) || File.Exists(Path.Combine(folder, ClipTokenizer.MergesFileName))
            ? ClipTokenizer.FromFolder(folder)
            : ReportTokenizer.FromFolder(folder);

    /// <summary>Encodes every text into one [texts, contextLength] batch, in parallel.</summary>
    static EncodedBatch EncodeAll(ITextTokenizer tokenizer, IReadOnlyList<string> texts, int contextLength)
    {
        var ids = new int[texts.Count * contextLength];
        var mask = new int[texts.Count * contextLength];
        Parallel.For(0, texts.Count, row =>
        {
            var (rowIds, rowMask) = tokenizer.Encode(texts[row], contextLength);
            rowIds.CopyTo(ids, row * contextLength);
            rowMask.CopyTo(mask, row * contextLength);
        });
        return new EncodedBatch(ids, mask, texts.Count, contextLength);
    }
}
