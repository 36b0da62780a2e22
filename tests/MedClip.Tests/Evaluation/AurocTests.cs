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
    public void Auroc_HandComputedWithTiesAcrossClasses()
    {
        // Positives 0.9, 0.5, 0.3; negatives 0.5, 0.3, 0.1. Pairs won: 0.9 beats all 3; 0.5 ties 0.5 (1/2), beats 0.3 and 0.1;
        // 0.3 ties 0.3 (1/2), beats 0.1. (3 + 2.5 + 1.5) / 9 = 7/9.
        Assert.Equal(7.0 / 9, Auroc.Compute([0.9, 0.5, 0.3, 0.5, 0.3, 0.1], [true, true, true, false, false, false]), 15);
    }

    [Fact]
    public void Targets_UncertainExcludedByDefault_BlankIsNegative()
    {
        float?[] labels = [1f, 0f, -1f, null];
        Assert.Equal([true, false, null, false], labels.Select(l => BinaryTargets.Of(l, UncertainLabels.Exclude)));
        Assert.Equal([true, false, true, false], labels.Select(l => BinaryTargets.Of(l, UncertainLabels.Positive)));
        Assert.Equal([true, false, false, false], labels.Select(l => BinaryTargets.Of(l, UncertainLabels.Negative)));
    }

    [Fact]
    public void LabelResult_ExcludesUncertainAndCounts()
    {
        var result = BinaryLabelResult.Evaluate("Edema", [0.9, 0.1, 0.5, 0.2], [true, false, null, false], new Bootstrap(4, seed: 1, resamples: 50));
        Assert.Equal(1.0, result.Auroc);
        Assert.Equal((1, 2, 1), (result.Positives, result.Negatives, result.Excluded));
        Assert.Null(result.UndefinedReason);
    }

    [Fact]
    public void LabelResult_OneClass_IsUndefinedWithReason_NotHalfOrNaN()
    {
        var result = BinaryLabelResult.Evaluate("Pleural Other", [0.9, 0.1, 0.5], [false, false, null], new Bootstrap(3, seed: 1, resamples: 50));
        Assert.Null(result.Auroc);
        Assert.Null(result.AurocInterval);
        Assert.Equal("only one class: no positive images (2 negative)", result.UndefinedReason);
        var mean = MeanAuroc.Of([result], ["Pleural Other"]);
        Assert.Null(mean.Value);
        Assert.Equal(["Pleural Other"], mean.Excluded);
    }
}
