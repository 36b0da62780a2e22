using MedClip.Evaluation;

namespace MedClip.Tests.Evaluation;

public class RocCurveTests
{
    [Fact]
    public void Curve_StepsAtEachDistinctScore_TiesMoveTogether()
    {
        var curve = RocCurve.Compute([0.9, 0.5, 0.3, 0.5, 0.1], [true, true, false, false, false]);
        Assert.Equal([double.PositiveInfinity, 0.9, 0.5, 0.3, 0.1], curve.Select(p => p.Threshold));
        Assert.Equal([0.0, 0.5, 1.0, 1.0, 1.0], curve.Select(p => p.TruePositiveRate));
        Assert.Equal([0.0, 0.0, 1.0 / 3, 2.0 / 3, 1.0], curve.Select(p => p.FalsePositiveRate));
    }

    [Fact]
    public void Youden_PicksMaximumJ_WithSensitivityAndSpecificity()
    {
        // At 0.6: TPR 2/3, FPR 0 (J 2/3); at 0.4: TPR 1, FPR 1/3 (J 2/3, lower threshold, so not chosen); at 0.8: J 1/3.
        var point = RocCurve.Youden(RocCurve.Compute([0.8, 0.6, 0.4, 0.5, 0.2, 0.1], [true, true, true, false, false, false]));
        Assert.Equal(0.6, point.Threshold);
        Assert.Equal(2.0 / 3, point.Sensitivity, 15);
        Assert.Equal(1.0, point.Specificity);
        Assert.Equal(2.0 / 3, point.YoudenJ, 12);
    }
}
