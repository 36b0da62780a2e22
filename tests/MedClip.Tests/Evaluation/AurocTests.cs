using MedClip.Evaluation;

namespace MedClip.Tests.Evaluation;

public class AurocTests
{
    [Fact]
    public void Auroc_PerfectInvertedAndTied()
    {
        Assert.Equal(1.0, Auroc.Compute([0.1, 0.2, 0.8, 0.9], [false, false, true, true]));
        Assert.Equal(0.0, Auroc.Compute([0.9, 0.8, 0.2, 0.1], [false, false, true, true]));
        Assert.Equal(0.5, Auroc.Compute([0.5, 0.5, 0.5, 0.5], [false, true, false, true]));
    }

    [Fact]
    public void Auroc_MatchesPairCountingWithTies()
    {
        var rng = new Random(3);
        var scores = Enumerable.Range(0, 200).Select(_ => Math.Round(rng.NextDouble(), 1)).ToArray();
        var labels = scores.Select(s => rng.NextDouble() < s).ToArray();
        double wins = 0;
        long pairs = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            for (int j = 0; j < scores.Length; j++)
            {
                if (!labels[i] || labels[j]) continue;
                pairs++;
                wins += scores[i] > scores[j] ? 1 : scores[i] == scores[j] ? 0.5 : 0;
            }
        }
        Assert.Equal(wins / pairs, Auroc.Compute(scores, labels), 12);
    }

    [Fact]
    public void Auroc_OneClassOnly_IsNaN() => Assert.True(double.IsNaN(Auroc.Compute([0.3, 0.4], [true, true])));

    [Fact]
    public void ZeroShot_UncertainExcludedByDefault_BlankIsNegative()
    {
        var (auroc, positives, negatives) = ZeroShotClassifier.Evaluate([0.9, 0.1, 0.5, 0.2], [1f, 0f, -1f, null]);
        Assert.Equal(1.0, auroc);
        Assert.Equal(1, positives);
        Assert.Equal(2, negatives);
    }
}
