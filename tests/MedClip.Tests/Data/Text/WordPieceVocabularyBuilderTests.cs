using MedClip.Data.Text;

namespace MedClip.Tests.Data.Text;

public sealed class WordPieceVocabularyBuilderTests
{
    private static readonly string[] Reports =
    [
        "No acute cardiopulmonary process. No pneumothorax.",
        "Small left pleural effusion. No pneumothorax. Heart size is normal.",
        "Right PICC line tip ends in the mid SVC. No pneumothorax.",
        "Moderate cardiomegaly with mild pulmonary edema; no pleural effusion.",
        "Patient ___ s/p CABG. Sternal wires intact. No pneumothorax or effusion.",
        "Lungs are clear. Cardiomediastinal silhouette is normal. 2.5 cm nodule at T12-L1.",
        "Interval decrease of the right pleural effusion. Résumé of naïve findings: +/- atelectasis.",
        "Endotracheal tube ends 4 cm above the carina. Nasogastric tube courses below the diaphragm.",
    ];

    [Fact]
    public void SpecialTokens_HaveIdsZeroToFour()
    {
        WordPieceVocabulary vocabulary = WordPieceVocabularyBuilder.Build(Reports, targetSize: 200);

        Assert.Equal(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], vocabulary.Tokens.Take(5));
    }

    [Fact]
    public void Build_IsDeterministicAndIgnoresReportOrder()
    {
        WordPieceVocabulary first = WordPieceVocabularyBuilder.Build(Reports, targetSize: 200);
        WordPieceVocabulary again = WordPieceVocabularyBuilder.Build(Reports.Reverse(), targetSize: 200);

        Assert.Equal(first.Tokens, again.Tokens);
    }

    [Fact]
    public void TrainingText_TokenizesWithoutUnknown()
    {
        WordPieceVocabulary vocabulary = WordPieceVocabularyBuilder.Build(Reports, targetSize: 120);
        var tokenizer = new ReportTokenizer(vocabulary);

        foreach (string report in Reports)
            Assert.DoesNotContain(tokenizer.UnknownId, tokenizer.TokenIds(report));
    }

    [Fact]
    public void FrequentWords_StayWhole()
    {
        WordPieceVocabulary vocabulary = WordPieceVocabularyBuilder.Build(Reports, targetSize: 300);
        var tokenizer = new ReportTokenizer(vocabulary);

        foreach (string word in new[] { "pneumothorax", "effusion", "pleural" })
            Assert.Equal([vocabulary.Tokens.ToList().IndexOf(word)], tokenizer.TokenIds(word));
    }

    [Fact]
    public void TargetSize_IsReachedExactlyWhenTheTextAllowsIt()
    {
        WordPieceVocabulary vocabulary = WordPieceVocabularyBuilder.Build(Reports, targetSize: 110);

        Assert.Equal(110, vocabulary.Count);
        Assert.Equal(vocabulary.Count, vocabulary.Tokens.Distinct().Count());
    }

    [Fact]
    public void MergingStops_WhenNoPairRepeats()
    {
        WordPieceVocabulary vocabulary = WordPieceVocabularyBuilder.Build(["lung"], targetSize: 100);

        Assert.Equal(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "l", "##g", "##n", "##u"], vocabulary.Tokens);
    }

    [Fact]
    public void TargetBelowTheAlphabet_KeepsEveryCharacter()
    {
        WordPieceVocabulary vocabulary = WordPieceVocabularyBuilder.Build(Reports, targetSize: 10);
        var tokenizer = new ReportTokenizer(vocabulary);

        Assert.True(vocabulary.Count > 10);
        Assert.All(Reports, r => Assert.DoesNotContain(tokenizer.UnknownId, tokenizer.TokenIds(r)));
    }

    [Fact]
    public void BuiltVocabulary_SavesAndLoadsAsVocabTxt()
    {
        WordPieceVocabulary vocabulary = WordPieceVocabularyBuilder.Build(Reports, targetSize: 150);
        string path = Path.Combine(Path.GetTempPath(), $"vocab-{Guid.NewGuid():N}.txt");
        try
        {
            vocabulary.Save(path);
            var tokenizer = new ReportTokenizer(path);

            Assert.Equal(vocabulary.Tokens, File.ReadAllLines(path));
            Assert.Equal(new ReportTokenizer(vocabulary).TokenIds(Reports[4]), tokenizer.TokenIds(Reports[4]));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
