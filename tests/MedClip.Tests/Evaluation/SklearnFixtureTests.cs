using System.Text.Json;
using MedClip.Evaluation;

namespace MedClip.Tests.Evaluation;

/// <summary>Against scikit-learn's values, written once by tools/reference/make_eval_fixtures.py.</summary>
public class SklearnFixtureTests
{
    private static readonly JsonElement Fixture = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "Evaluation", "sklearn_metrics.json"))).RootElement;

    private static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(v => v.GetDouble()).ToArray();
    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(v => v.GetInt32()).ToArray();
    private static bool[] Bools(JsonElement e) => e.EnumerateArray().Select(v => v.GetInt32() == 1).ToArray();

    public static TheoryData<int> AurocCases => [.. Enumerable.Range(0, Fixture.GetProperty("auroc").GetArrayLength())];
    public static TheoryData<int> MulticlassCases => [.. Enumerable.Range(0, Fixture.GetProperty("multiclass").GetArrayLength())];
    public static TheoryData<int> LogisticCases => [.. Enumerable.Range(0, Fixture.GetProperty("logistic").GetArrayLength())];

    [Theory]
    [MemberData(nameof(AurocCases))]
    public void Auroc_MatchesRocAucScore(int index)
    {
        var c = Fixture.GetProperty("auroc")[index];
        Assert.Equal(c.GetProperty("auroc").GetDouble(), Auroc.Compute(Doubles(c.GetProperty("scores")), Bools(c.GetProperty("labels"))), 12);
    }

    [Theory]
    [MemberData(nameof(AurocCases))]
    public void RocCurve_MatchesRocCurveWithoutDroppingPoints(int index)
    {
        var c = Fixture.GetProperty("auroc")[index];
        var curve = RocCurve.Compute(Doubles(c.GetProperty("scores")), Bools(c.GetProperty("labels")));
        Assert.Equal(Doubles(c.GetProperty("fpr")), curve.Select(p => p.FalsePositiveRate), new Tolerance(1e-12));
        Assert.Equal(Doubles(c.GetProperty("tpr")), curve.Select(p => p.TruePositiveRate), new Tolerance(1e-12));
        Assert.Equal(Doubles(c.GetProperty("thresholds_after_first")), curve.Skip(1).Select(p => p.Threshold), new Tolerance(0));
    }

    [Theory]
    [MemberData(nameof(MulticlassCases))]
    public void Multiclass_MatchesAccuracyMacroF1AndConfusionMatrix(int index)
    {
        var c = Fixture.GetProperty("multiclass")[index];
        int classes = c.GetProperty("classes").GetInt32();
        var truth = Ints(c.GetProperty("truth"));
        var predicted = Ints(c.GetProperty("predicted"));
        Assert.Equal(c.GetProperty("accuracy").GetDouble(), MulticlassMetrics.Accuracy(truth, predicted), 14);
        Assert.Equal(c.GetProperty("macro_f1").GetDouble(), MulticlassMetrics.MacroF1(truth, predicted, classes), 14);
        var matrix = MulticlassMetrics.ConfusionMatrix(truth, predicted, classes);
        var expected = c.GetProperty("confusion_matrix");
        for (int r = 0; r < classes; r++)
            Assert.Equal(Ints(expected[r]), Enumerable.Range(0, classes).Select(k => matrix[r, k]));
    }

    [Theory]
    [MemberData(nameof(LogisticCases))]
    public void LogisticRegression_MatchesSklearnNewtonCholesky(int index)
    {
        var c = Fixture.GetProperty("logistic")[index];
        var rows = c.GetProperty("features").EnumerateArray().Select(Doubles).ToArray();
        int d = rows[0].Length;
        var model = LogisticRegression.Fit(rows.SelectMany(r => r).ToArray(), Bools(c.GetProperty("labels")), d, c.GetProperty("lambda").GetDouble());
        Assert.Equal(Doubles(c.GetProperty("coefficients")), model.Weights, new Tolerance(1e-6));
        Assert.Equal(c.GetProperty("intercept").GetDouble(), model.Intercept, 1e-6);
        Assert.Equal(Doubles(c.GetProperty("probabilities")), rows.Select(r => model.Probability(r)), new Tolerance(1e-7));
    }

    [Fact]
    public void Percentile_MatchesNumpyLinear()
    {
        var c = Fixture.GetProperty("percentile");
        var sorted = Doubles(c.GetProperty("values")).Order().ToList();
        var q = Doubles(c.GetProperty("q"));
        Assert.Equal(Doubles(c.GetProperty("percentiles")), q.Select(p => Bootstrap.Percentile(sorted, p / 100)), new Tolerance(1e-14));
    }

    private sealed class Tolerance(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => x == y || Math.Abs(x - y) <= tolerance;
        public int GetHashCode(double obj) => 0;
    }
}
