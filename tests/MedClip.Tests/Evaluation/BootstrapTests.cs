using MedClip.Evaluation;

namespace MedClip.Tests.Evaluation;

public class BootstrapTests
{
    private static (double[] Scores, bool?[] Targets) Data(int n, int seed)
    {
        var rng = new Random(seed);
        var targets = Enumerable.Range(0, n).Select(_ => (bool?)(rng.NextDouble() < 0.3)).ToArray();
        var scores = targets.Select(t => Math.Round(rng.NextDouble() + (t == true ? 0.4 : 0), 2)).ToArray();
        return (scores, targets);
    }

    [Fact]
    public void AurocInterval_IsReproducibleForASeed_AndChangesWithIt()
    {
        var (scores, targets) = Data(300, 5);
        var a = BinaryLabelResult.Evaluate("Edema", scores, targets, new Bootstrap(300, seed: 7));
        var b = BinaryLabelResult.Evaluate("Edema", scores, targets, new Bootstrap(300, seed: 7));
        var c = BinaryLabelResult.Evaluate("Edema", scores, targets, new Bootstrap(300, seed: 8));
        Assert.Equal(a.AurocInterval, b.AurocInterval);
        Assert.NotEqual(a.AurocInterval, c.AurocInterval);
        Assert.Equal(1000, a.AurocInterval!.Resamples);
        Assert.Equal(1000, a.AurocInterval.Valid);
        Assert.InRange(a.Auroc!.Value, a.AurocInterval.Lower, a.AurocInterval.Upper);
        Assert.True(a.AurocInterval.Upper - a.AurocInterval.Lower is > 0.02 and < 0.3);
    }

    [Fact]
    public void Interval_IsThePercentilesOfTheResampledStatistic()
    {
        // The statistic is the resample's first index: uniform over 0..99, so the 2.5th and 97.5th percentiles of 1,000
        // draws sit near 2.5 and 96.5; and the interval must be exactly the numpy-linear percentiles of those draws.
        var bootstrap = new Bootstrap(100, seed: 3);
        var ci = bootstrap.Interval(idx => idx[0])!;
        var firsts = Enumerable.Range(0, bootstrap.Resamples).Select(b => (double)bootstrap.Indices(b)[0]).Order().ToList();
        Assert.Equal(Bootstrap.Percentile(firsts, 0.025), ci.Lower);
        Assert.Equal(Bootstrap.Percentile(firsts, 0.975), ci.Upper);
        Assert.InRange(ci.Lower, 0, 6);
        Assert.InRange(ci.Upper, 93, 99);
    }

    [Fact]
    public void ResamplesWithOneClass_AreLeftOutAndCounted()
    {
        // One positive among 20: about (19/20)^20 = 36% of resamples miss it and have no AUROC.
        var scores = Enumerable.Range(0, 20).Select(i => i / 20.0).ToArray();
        var targets = Enumerable.Range(0, 20).Select(i => (bool?)(i == 19)).ToArray();
        var result = BinaryLabelResult.Evaluate("Fracture", scores, targets, new Bootstrap(20, seed: 1));
        Assert.InRange(result.AurocInterval!.Valid, 550, 750);
        Assert.Equal(1000 - result.AurocInterval.Valid, result.ResampledAurocs.Count(double.IsNaN));
    }

    [Fact]
    public void MeanAuroc_AveragesLabels_AndItsIntervalUsesSharedResamples()
    {
        var (s1, t1) = Data(200, 1);
        var (s2, t2) = Data(200, 2);
        var bootstrap = new Bootstrap(200, seed: 4);
        var a = BinaryLabelResult.Evaluate("Edema", s1, t1, bootstrap);
        var b = BinaryLabelResult.Evaluate("Atelectasis", s2, t2, bootstrap);
        var mean = MeanAuroc.Of([a, b], ["Atelectasis", "Edema"]);
        Assert.Equal((a.Auroc!.Value + b.Auroc!.Value) / 2, mean.Value!.Value, 15);
        var expected = Enumerable.Range(0, 1000).Select(i => (a.ResampledAurocs[i] + b.ResampledAurocs[i]) / 2).Order().ToList();
        Assert.Equal(Bootstrap.Percentile(expected, 0.025), mean.Interval!.Lower, 15);
        Assert.Equal(Bootstrap.Percentile(expected, 0.975), mean.Interval.Upper, 15);
        Assert.Equal(["Edema", "Atelectasis"], mean.Included);
    }
}
