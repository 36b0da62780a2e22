namespace MedClip.Evaluation;

/// <summary>One ROC point: images scoring at least <see cref="Threshold"/> are called positive.</summary>
public sealed record RocPoint(double Threshold, double FalsePositiveRate, double TruePositiveRate);

/// <summary>An operating point chosen on the ROC curve, with its sensitivity (TPR) and specificity (1 - FPR).</summary>
public sealed record OperatingPoint(double Threshold, double Sensitivity, double Specificity)
{
    /// <summary>Youden's J = sensitivity + specificity - 1.</summary>
    public double YoudenJ => Sensitivity + Specificity - 1;
}

/// <summary>
/// The ROC curve at every distinct score, as scikit-learn's <c>roc_curve(drop_intermediate=False)</c>: thresholds in
/// descending order, preceded by (+inf, 0, 0). Scores must be finite (<see cref="BinaryLabelResult"/> reports a label
/// with non-finite scores as undefined).
/// </summary>
public static class RocCurve
{
    public static IReadOnlyList<RocPoint> Compute(ReadOnlySpan<double> scores, ReadOnlySpan<bool> positive)
    {
        if (scores.Length != positive.Length) throw new ArgumentException("Scores and labels differ in length.");
        // A NaN threshold equals no score, so the tie loop below would never advance: non-finite scores are refused.
        foreach (double s in scores)
            if (!double.IsFinite(s)) throw new ArgumentException($"A ROC curve needs finite scores, not {s}.");
        int n = scores.Length;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        var sorted = scores.ToArray();
        Array.Sort(sorted, order);
        int positives = 0;
        foreach (bool p in positive) if (p) positives++;
        int negatives = n - positives;
        if (positives == 0 || negatives == 0) throw new ArgumentException("A ROC curve needs both classes.");

        var points = new List<RocPoint> { new(double.PositiveInfinity, 0, 0) };
        int truePositives = 0, falsePositives = 0;
        for (int i = n - 1; i >= 0;)
        {
            double threshold = sorted[i];
            // Every image tied at this score crosses the threshold together.
            for (; i >= 0 && sorted[i] == threshold; i--)
            {
                if (positive[order[i]]) truePositives++;
                else falsePositives++;
            }
            points.Add(new RocPoint(threshold, (double)falsePositives / negatives, (double)truePositives / positives));
        }
        return points;
    }

    /// <summary>
    /// The point maximising Youden's J among the images' scores (the +inf start, "call nothing positive", is not an
    /// operating point); on ties the highest threshold (the first in curve order). Distinct J values
    /// differ by at least 1 / (positives x negatives), so differences below 1e-12 are rounding and count as ties.
    /// </summary>
    public static OperatingPoint Youden(IReadOnlyList<RocPoint> curve)
    {
        RocPoint best = curve[1];
        foreach (var p in curve.Skip(2))
            if (p.TruePositiveRate - p.FalsePositiveRate > best.TruePositiveRate - best.FalsePositiveRate + 1e-12) best = p;
        return new OperatingPoint(best.Threshold, best.TruePositiveRate, 1 - best.FalsePositiveRate);
    }
}
