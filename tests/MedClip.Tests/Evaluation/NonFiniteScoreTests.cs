using MedClip.Evaluation;

namespace MedClip.Tests.Evaluation;

/// <summary>A diverged checkpoint's NaN or infinite scores make a label undefined instead of looping or ranking garbage.</summary>
public class NonFiniteScoreTests
{
    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void RocCurve_RefusesNonFiniteScores_InsteadOfLooping(double bad)
    {
        var e = Assert.Throws<ArgumentException>(() => RocCurve.Compute([0.9, bad, 0.2], [true, false, false]));
        Assert.Contains("finite", e.Message);
    }

    [Fact]
    public void Auroc_OfNonFiniteScores_IsNaN() =>
        Assert.True(double.IsNaN(Auroc.Compute([0.9, double.NaN, 0.2, 0.1], [true, false, true, false])));

    [Fact]
    public void Label_WithANaNScore_IsUndefinedWithAReason()
    {
        double[] scores = [0.9, double.NaN, 0.3, 0.1, double.NegativeInfinity, 0.7];
        bool?[] targets = [true, false, true, false, false, null];
        var result = BinaryLabelResult.Evaluate("Edema", scores, targets, new Bootstrap(scores.Length, seed: 0, resamples: 50));
        Assert.Null(result.Auroc);
        Assert.Null(result.AurocInterval);
        Assert.Equal("1 NaN and 1 infinite scores of 5: the model's outputs are not finite", result.UndefinedReason);
    }

    [Fact]
    public void Label_WithANaNScoreOnlyOnAnExcludedImage_KeepsItsAuroc()
    {
        double[] scores = [0.9, 0.2, 0.8, 0.1, double.NaN];
        bool?[] targets = [true, false, true, false, null];
        var result = BinaryLabelResult.Evaluate("Edema", scores, targets, new Bootstrap(scores.Length, seed: 0, resamples: 50));
        Assert.Equal(1.0, result.Auroc);
    }

    [Fact]
    public void BootstrapInterval_LeavesOutNonFiniteResamples()
    {
        var interval = Bootstrap.FromValues([0.5, double.PositiveInfinity, 0.7, double.NaN], resamples: 4)!;
        Assert.Equal(2, interval.Valid);
        Assert.InRange(interval.Lower, 0.5, 0.7);
        Assert.InRange(interval.Upper, 0.5, 0.7);
    }
}
