namespace MedClip.Evaluation;

/// <summary>Accuracy, macro-F1 and the confusion matrix of a single-label multiclass prediction.</summary>
public static class MulticlassMetrics
{
    /// <summary>counts[true, predicted], as scikit-learn's confusion_matrix (rows are the true class).</summary>
    public static int[,] ConfusionMatrix(ReadOnlySpan<int> truth, ReadOnlySpan<int> predicted, int classes)
    {
        var counts = new int[classes, classes];
        for (int i = 0; i < truth.Length; i++) counts[truth[i], predicted[i]]++;
        return counts;
    }

    public static double Accuracy(ReadOnlySpan<int> truth, ReadOnlySpan<int> predicted)
    {
        int correct = 0;
        for (int i = 0; i < truth.Length; i++) if (truth[i] == predicted[i]) correct++;
        return truth.Length == 0 ? double.NaN : (double)correct / truth.Length;
    }

    /// <summary>
    /// The unweighted mean over all <paramref name="classes"/> of F1 = 2 TP / (2 TP + FP + FN); a class never true
    /// and never predicted has F1 0 (scikit-learn's f1_score(average="macro", labels=range(classes), zero_division=0)).
    /// </summary>
    public static double MacroF1(ReadOnlySpan<int> truth, ReadOnlySpan<int> predicted, int classes)
    {
        var m = ConfusionMatrix(truth, predicted, classes);
        double sum = 0;
        for (int c = 0; c < classes; c++)
        {
            int tp = m[c, c], fp = 0, fn = 0;
            for (int k = 0; k < classes; k++)
            {
                if (k == c) continue;
                fp += m[k, c];
                fn += m[c, k];
            }
            int denominator = 2 * tp + fp + fn;
            sum += denominator == 0 ? 0 : 2.0 * tp / denominator;
        }
        return sum / classes;
    }
}
