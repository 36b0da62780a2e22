using MedClip.Evaluation;

namespace MedClip.Tests.Evaluation;

public class RetrievalTests
{
    private static EmbeddingMatrix Rows(params float[][] rows) => new([.. rows.SelectMany(r => r)], rows.Length, rows[0].Length);

    [Fact]
    public void Ranks_CountWrongCandidatesAhead_DuplicateTextsAreCorrect()
    {
        // Texts 0 and 2 are identical (group 0). Similarities image i . text j:
        //   image 0: [0.1, 0.9, 0.5]  correct {0, 2}: best 0.5, text 1 ahead -> rank 2
        //   image 1: [0.2, 0.8, 0.3]  correct {1}: rank 1
        //   image 2: [0.7, 0.6, 0.1]  correct {0, 2}: best 0.7 -> rank 1
        var images = Rows([1, 0, 0], [0, 1, 0], [0, 0, 1]);
        var texts = Rows([0.1f, 0.2f, 0.7f], [0.9f, 0.8f, 0.6f], [0.5f, 0.3f, 0.1f]);
        var result = RetrievalResult.Compute(images, texts, [0, 1, 0]);
        Assert.Equal([2, 1, 1], result.ImageToText.Ranks);
        // text 0 (group 0): correct images {0, 2}: column [0.1, 0.2, 0.7] best 0.7 -> rank 1
        // text 1: column [0.9, 0.8, 0.6], correct image 1 (0.8), image 0 ahead -> rank 2
        // text 2 (group 0): column [0.5, 0.3, 0.1], correct {0, 2} best 0.5 -> rank 1
        Assert.Equal([1, 2, 1], result.TextToImage.Ranks);
        Assert.Equal(1, result.DuplicateTexts);
        Assert.Equal(2, result.DistinctTexts);
        Assert.Equal(2.0 / 3, result.ImageToText.Recall(1), 15);
        Assert.Equal(1.0, result.ImageToText.Recall(5));
        Assert.Equal(4.0 / 3, result.ImageToText.MeanRank, 15);
    }

    [Fact]
    public void TiesWithAWrongCandidate_CountAgainstTheQuery()
    {
        var result = RetrievalResult.Compute(Rows([1, 0], [0, 1]), Rows([1, 0], [1, 0]), [0, 1]);
        Assert.Equal([2, 2], result.ImageToText.Ranks);
    }

    [Fact]
    public void NaNEmbeddings_RankLast_NotFirst()
    {
        var result = RetrievalResult.Compute(Rows([float.NaN, 0], [0, 1], [1, 0]), Rows([1, 0], [0, 1], [0.5f, 0.5f]), [0, 1, 2]);
        Assert.Equal(3, result.ImageToText.Ranks[0]);
    }

    [Fact]
    public void MedianRank_IsOpenClipsFlooredMedianOfZeroBasedRanks()
    {
        Assert.Equal(2, new RetrievalDirection("x", [1, 2, 3, 4]).MedianRank); // median(0,1,2,3) = 1.5 -> 1 + 1
        Assert.Equal(3, new RetrievalDirection("x", [1, 3, 9]).MedianRank);
    }

    [Fact]
    public void Groups_JoinIdenticalTokenSequencesOnly()
    {
        Assert.Equal([0, 1, 0, 3], RetrievalResult.GroupsByTokens([[101, 5, 102], [101, 6, 102], [101, 5, 102], [101, 5]]));
    }
}
