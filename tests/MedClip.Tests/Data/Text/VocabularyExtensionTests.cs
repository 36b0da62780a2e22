using MedClip.Data.Text;

namespace MedClip.Tests.Data.Text;

public class VocabularyExtensionTests
{
    private static readonly string[] Pretrained =
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "no", "pleural", "eff", "##usion", "cardio", "##mega", "##ly", "small", ".", "pneumo", "##thorax"];

    private static readonly string[] Reports = ["No pleural effusion.", "Small pleural effusion.", "Cardiomegaly.", "Pneumothorax and effusion"];

    private static ReportTokenizer Tokenizer() => new(new WordPieceVocabulary(Pretrained));

    [Fact]
    public void Build_AddsTheMostFrequentSplitWords_AndCountsPiecesPerWord()
    {
        var extension = VocabularyExtension.Build(Tokenizer(), Reports, count: 2);

        // effusion (3 times, 2 pieces) first; cardiomegaly and pneumothorax once each, by spelling; "and" is [UNK], not split.
        Assert.Equal(["effusion", "cardiomegaly"], extension.Added.Select(w => w.Word));
        Assert.Equal([3, 1], extension.Added.Select(w => w.Count));
        Assert.Equal([7, 8], extension.Added[0].Pieces);
        Assert.Equal([9, 10, 11], extension.Added[1].Pieces);
        Assert.Equal([.. Pretrained, "effusion", "cardiomegaly"], extension.Tokenizer.Vocabulary.Tokens);
        Assert.Equal([5, 6, 16, 13], extension.Tokenizer.TokenIds("no pleural effusion."));
        Assert.Equal([17], extension.Tokenizer.TokenIds("CARDIOMEGALY"));
        // 13 words: 19 pieces before, 14 after (effusion three times one piece shorter, cardiomegaly two).
        Assert.Equal(19.0 / 13, extension.PiecesPerWordBefore, 12);
        Assert.Equal(14.0 / 13, extension.PiecesPerWordAfter, 12);
        Assert.Equal("Vocabulary extended by 2 report words (the most frequent split ones: effusion, cardiomegaly); "
            + "mean pieces per word of the training reports 1.462 -> 1.077.", extension.Describe(2));
        var json = extension.ToJson();
        Assert.Equal(16, (int)json["pretrained_vocab_size"]!);
        Assert.Equal(["eff", "##usion"], json["added"]![0]!["pieces"]!.AsArray().Select(p => (string)p!));
        Assert.Equal(3, (int)json["added"]![0]!["count"]!);
    }

    [Fact]
    public void Build_AddsOnlyWhatIsSplit_WhenAskedForMore()
    {
        var extension = VocabularyExtension.Build(Tokenizer(), Reports, count: 50);
        Assert.Equal(["effusion", "cardiomegaly", "pneumothorax"], extension.Added.Select(w => w.Word));
    }

    [Fact]
    public void PiecesOfAddedTokens_AreThePretrainedSplits_AndNeedThePretrainedPrefix()
    {
        var pretrained = Tokenizer();
        var extended = VocabularyExtension.Build(pretrained, Reports, count: 3).Tokenizer;
        var pieces = VocabularyExtension.PiecesOfAddedTokens(pretrained, extended);
        Assert.Equal([[7, 8], [9, 10, 11], [14, 15]], pieces);
        Assert.Empty(VocabularyExtension.PiecesOfAddedTokens(pretrained, pretrained));
        var other = new ReportTokenizer(new WordPieceVocabulary(Pretrained.Reverse().Skip(2).Reverse().Concat(["x", "y", "z"])));
        var e = Assert.Throws<InvalidDataException>(() => VocabularyExtension.PiecesOfAddedTokens(pretrained, other));
        Assert.Contains("does not begin with the pretrained vocabulary", e.Message);
    }
}
