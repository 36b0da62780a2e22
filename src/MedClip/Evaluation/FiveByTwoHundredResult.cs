namespace MedClip.Evaluation;

/// <summary>
/// The 5x200-style task's result: each sampled image is assigned the class whose positive prompt it is most similar
/// to; accuracy and macro-F1 with bootstrap intervals over the sampled images, and the confusion matrix (rows true).
/// </summary>
public sealed record FiveByTwoHundredResult(
    FiveByTwoHundredSample Sample,
    int[] Truth,
    int[] Predicted,
    double Accuracy,
    ConfidenceInterval? AccuracyInterval,
    double MacroF1,
    ConfidenceInterval? MacroF1Interval,
    int[,] Confusion)
{
    /// <param name="similarity">similarity[i][c]: sampled image i against class c's positive prompt direction.</param>
    public static FiveByTwoHundredResult Evaluate(FiveByTwoHundredSample sample, IReadOnlyList<double[]> similarity, int seed, int resamples)
    {
        int classes = FiveByTwoHundred.Classes.Count;
        var truth = sample.Classes.ToArray();
        var predicted = similarity.Select(row => Array.IndexOf(row, row.Max())).ToArray();
        var bootstrap = new Bootstrap(truth.Length, seed, resamples);
        ConfidenceInterval? Interval(Func<int[], int[], double> metric) => bootstrap.Interval(idx =>
            metric(idx.Select(i => truth[i]).ToArray(), idx.Select(i => predicted[i]).ToArray()));
        return new FiveByTwoHundredResult(sample, truth, predicted,
            MulticlassMetrics.Accuracy(truth, predicted), Interval((t, p) => MulticlassMetrics.Accuracy(t, p)),
            MulticlassMetrics.MacroF1(truth, predicted, classes), Interval((t, p) => MulticlassMetrics.MacroF1(t, p, classes)),
            MulticlassMetrics.ConfusionMatrix(truth, predicted, classes));
    }
}
