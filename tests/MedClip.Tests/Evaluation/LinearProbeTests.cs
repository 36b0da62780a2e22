using MedClip.Evaluation;

namespace MedClip.Tests.Evaluation;

public class LinearProbeTests
{
    [Fact]
    public void SeparatedClasses_ScoreTheEvaluatedImagesInOrder()
    {
        var (train, targets) = TwoClusters(count: 40, poisoned: false);
        var evaluated = new EmbeddingMatrix([1f, 0f, 0f, 1f], count: 2, dimension: 2);
        var fit = LinearProbe.Train("Edema", train, targets, evaluated);
        Assert.Null(fit.UndefinedReason);
        Assert.True(fit.Scores![0] > 0.5 && fit.Scores[1] < 0.5);
    }

    [Fact]
    public void AFitThatFails_LeavesThatProbeUndefinedWithTheReason_InsteadOfThrowing()
    {
        // A NaN embedding makes the Hessian indefinite: the regression throws, and the probe reports why.
        var (train, targets) = TwoClusters(count: 40, poisoned: true);
        var fit = LinearProbe.Train("Edema", train, targets, new EmbeddingMatrix([1f, 0f], count: 1, dimension: 2));
        Assert.Null(fit.Scores);
        Assert.StartsWith("its logistic regression failed (", fit.UndefinedReason);
    }

    private static (EmbeddingMatrix, bool?[]) TwoClusters(int count, bool poisoned)
    {
        var data = new float[count * 2];
        var targets = new bool?[count];
        for (int i = 0; i < count; i++)
        {
            bool positive = i % 2 == 0;
            float wobble = 0.05f * (i % 5);
            (data[2 * i], data[2 * i + 1]) = positive ? (1f - wobble, wobble) : (wobble, 1f - wobble);
            targets[i] = positive;
        }
        if (poisoned) data[3] = float.NaN;
        return (new EmbeddingMatrix(data, count, 2), targets);
    }
}
