using MedClip.Data.Text;

namespace MedClip.Tests.Data.Text;

public sealed class ReportTokenizerTests
{
    private static readonly string VocabularyPath = Path.Combine(AppContext.BaseDirectory, "Fixtures", "Text", "vocab.txt");

    [Fact]
    public void Properties_ComeFromTheVocabulary()
    {
        var tokenizer = new ReportTokenizer(VocabularyPath);

        Assert.Equal(File.ReadAllLines(VocabularyPath).Length, tokenizer.VocabularySize);
        Assert.Equal((0, 1, 2, 3), (tokenizer.PadId, tokenizer.UnknownId, tokenizer.ClassId, tokenizer.SeparatorId));
    }

    [Fact]
    public void EncodeBatch_RowsEqualEncode()
    {
        var tokenizer = new ReportTokenizer(VocabularyPath);
        string[] texts = ["No acute cardiopulmonary process.", "", "PICC line tip ends in the SVC. " + string.Concat(Enumerable.Repeat("lung ", 40))];

        EncodedBatch batch = tokenizer.EncodeBatch(texts, 12);

        Assert.Equal((3, 12), (batch.Count, batch.ContextLength));
        for (int row = 0; row < texts.Length; row++)
        {
            (int[] ids, int[] mask) = tokenizer.Encode(texts[row], 12);
            Assert.Equal(ids, batch.Ids.AsSpan(row * 12, 12).ToArray());
            Assert.Equal(mask, batch.AttentionMask.AsSpan(row * 12, 12).ToArray());
        }
    }

    [Fact]
    public void TrimmedToLongest_KeepsTheLongestTextsColumns()
    {
        var tokenizer = new ReportTokenizer(VocabularyPath);
        string[] texts = ["No acute cardiopulmonary process.", "", "No effusion."];
        EncodedBatch batch = tokenizer.EncodeBatch(texts, 16);
        int longest = tokenizer.Encode(texts[0], 16).AttentionMask.Sum();
        Assert.InRange(longest, 3, 15);

        EncodedBatch trimmed = batch.TrimmedToLongest();

        Assert.Equal((3, longest), (trimmed.Count, trimmed.ContextLength));
        for (int row = 0; row < texts.Length; row++)
        {
            Assert.Equal(batch.Ids.AsSpan(row * 16, longest).ToArray(), trimmed.Ids.AsSpan(row * longest, longest).ToArray());
            Assert.Equal(batch.AttentionMask.AsSpan(row * 16, longest).ToArray(), trimmed.AttentionMask.AsSpan(row * longest, longest).ToArray());
        }
    }

    [Fact]
    public void TrimmedToLongest_LeavesAFullBatchAlone()
    {
        var tokenizer = new ReportTokenizer(VocabularyPath);
        EncodedBatch batch = tokenizer.EncodeBatch(["", string.Concat(Enumerable.Repeat("lung ", 40))], 8);

        Assert.Same(batch, batch.TrimmedToLongest());
    }

    [Fact]
    public void Encode_TruncatesToContextLengthAndEndsWithSeparator()
    {
        var tokenizer = new ReportTokenizer(VocabularyPath);

        (int[] ids, int[] mask) = tokenizer.Encode(string.Concat(Enumerable.Repeat("lung ", 100)), 8);

        Assert.Equal(8, ids.Length);
        Assert.Equal(tokenizer.ClassId, ids[0]);
        Assert.Equal(tokenizer.SeparatorId, ids[7]);
        Assert.All(mask, m => Assert.Equal(1, m));
    }

    [Fact]
    public void Encode_RejectsContextShorterThanTheSpecialTokens()
    {
        var tokenizer = new ReportTokenizer(VocabularyPath);

        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Encode("lung", 1));
    }

    [Fact]
    public void MissingVocabularyFile_NamesThePath()
    {
        string path = Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}", "vocab.txt");

        var error = Assert.Throws<FileNotFoundException>(() => new ReportTokenizer(path));

        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void VocabularyWithoutClassToken_IsRejectedWithTheFileName()
    {
        string path = Path.Combine(Path.GetTempPath(), $"vocab-{Guid.NewGuid():N}.txt");
        File.WriteAllLines(path, ["[PAD]", "[UNK]", "[SEP]", "lung"]);
        try
        {
            var error = Assert.Throws<InvalidDataException>(() => new ReportTokenizer(path));
            Assert.Contains(path, error.Message);
            Assert.Contains("[CLS]", error.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Vocabulary_SaveThenLoad_KeepsTokensAndIds()
    {
        string path = Path.Combine(Path.GetTempPath(), $"vocab-{Guid.NewGuid():N}.txt");
        var vocabulary = new WordPieceVocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "café", "##s", "中"]);
        try
        {
            vocabulary.Save(path);
            WordPieceVocabulary loaded = WordPieceVocabulary.Load(path);

            Assert.Equal(vocabulary.Tokens, loaded.Tokens);
            Assert.True(loaded.TryGetId("##s", out int id));
            Assert.Equal(6, id);
            Assert.Empty(Directory.GetFiles(Path.GetTempPath(), $".{Path.GetFileName(path)}.*.tmp"));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
