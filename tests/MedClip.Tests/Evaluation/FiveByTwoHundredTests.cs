using MedClip.Data;
using MedClip.Evaluation;

namespace MedClip.Tests.Evaluation;

public class FiveByTwoHundredTests
{
    private static ImageTextSample Sample(string id, string? view, params (string Label, float? Value)[] labels) =>
        new($"{id}.jpg", "report", "test", "s", id, id, view, labels.ToDictionary(l => l.Label, l => l.Value));

    [Fact]
    public void ClassOf_ExactlyOnePositive_NoUncertain_FrontalOnly()
    {
        Assert.Equal(1, FiveByTwoHundred.ClassOf(Sample("a", "PA", ("Cardiomegaly", 1f), ("Edema", 0f))));
        Assert.Equal(4, FiveByTwoHundred.ClassOf(Sample("b", "AP", ("Pleural Effusion", 1f), ("Fracture", 1f)))); // other labels do not matter
        Assert.Null(FiveByTwoHundred.ClassOf(Sample("c", "PA", ("Cardiomegaly", 1f), ("Edema", 1f))));         // two positives
        Assert.Null(FiveByTwoHundred.ClassOf(Sample("d", "PA", ("Cardiomegaly", 1f), ("Edema", -1f))));        // uncertain
        Assert.Null(FiveByTwoHundred.ClassOf(Sample("e", "LATERAL", ("Cardiomegaly", 1f))));                    // not frontal
        Assert.Null(FiveByTwoHundred.ClassOf(Sample("f", "PA", ("Edema", 0f))));                                // no positive
    }

    [Fact]
    public void Draw_CapsPerClass_IsSeeded_AndKeepsInputOrder()
    {
        var samples = Enumerable.Range(0, 50).Select(i => Sample($"{i}", "PA", (FiveByTwoHundred.Classes[i % 2], 1f))).ToList();
        var a = FiveByTwoHundred.Draw(samples, seed: 1, perClass: 10);
        var b = FiveByTwoHundred.Draw(samples, seed: 1, perClass: 10);
        var c = FiveByTwoHundred.Draw(samples, seed: 2, perClass: 10);
        Assert.Equal(a.Images, b.Images);
        Assert.NotEqual(a.Images, c.Images);
        Assert.Equal(20, a.Images.Count);
        Assert.Equal([25, 25, 0, 0, 0], a.CandidatesPerClass);
        Assert.Equal(a.Images.Order(), a.Images);
        Assert.All(a.Images.Zip(a.Classes), p => Assert.Equal(p.First % 2, p.Second));
    }

    [Fact]
    public void Result_PredictsTheMostSimilarClass()
    {
        var sample = new FiveByTwoHundredSample([0, 1, 2], [0, 1, 2], [1, 1, 1, 0, 0]);
        double[][] similarity = [[0.9, 0.1, 0, 0, 0], [0.5, 0.2, 0, 0, 0], [0, 0, 0.3, 0, 0]];
        var result = FiveByTwoHundredResult.Evaluate(sample, similarity, seed: 0, resamples: 100);
        Assert.Equal([0, 0, 2], result.Predicted);
        Assert.Equal(2.0 / 3, result.Accuracy, 15);
        Assert.Equal(1, result.Confusion[1, 0]);
    }
}
