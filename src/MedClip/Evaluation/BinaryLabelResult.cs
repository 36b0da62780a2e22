namespace MedClip.Evaluation;

/// <summary>
/// One label's binary classification result on a set of images: counts after uncertain labels are handled, AUROC with
/// its bootstrap interval (and the value on each resample, NaN where it drew one class, for intervals of means), the ROC
/// curve and the Youden operating point. When the images hold one class only, or a score is NaN or infinite, the AUROC
/// is undefined: <see cref="Auroc"/> is null and <see cref="UndefinedReason"/> says why.
/// </summary>
public sealed record BinaryLabelResult(
    string Label,
    int Positives,
    int Negatives,
    int Excluded,
    double? Auroc,
    ConfidenceInterval? AurocInterval,
    string? UndefinedReason,
    IReadOnlyList<RocPoint> Roc,
    OperatingPoint? Youden,
    IReadOnlyList<double> ResampledAurocs)
{
    /// <summary>
    /// Scores of all images against their targets (null = excluded). Bootstrap resamples are drawn over all images, as
    /// the labels' resamples must be shared for a mean's interval; excluded ones drop out of each resample.
    /// </summary>
    public static BinaryLabelResult Evaluate(string label, double[] scores, bool?[] targets, Bootstrap bootstrap)
    {
        if (scores.Length != targets.Length || bootstrap.Count != scores.Length)
            throw new ArgumentException("Scores, targets and bootstrap differ in length.");
        var kept = Enumerable.Range(0, scores.Length).Where(i => targets[i] is not null).ToArray();
        var s = kept.Select(i => scores[i]).ToArray();
        var y = kept.Select(i => targets[i]!.Value).ToArray();
        int positives = y.Count(v => v), negatives = y.Length - positives, excluded = scores.Length - kept.Length;
        string? reason = (positives, negatives) switch
        {
            (0, 0) => "no image with a positive or negative label",
            (0, _) => $"only one class: no positive images ({negatives} negative)",
            (_, 0) => $"only one class: no negative images ({positives} positive)",
            _ => NonFinite(s),
        };
        if (reason is not null) return Undefined(label, positives, negatives, excluded, reason);
        var roc = RocCurve.Compute(s, y);
        var resampled = new double[bootstrap.Resamples];
        for (int b = 0; b < resampled.Length; b++) resampled[b] = ResampledAuroc(scores, targets, bootstrap.Indices(b));
        return new BinaryLabelResult(label, positives, negatives, excluded, MedClip.Evaluation.Auroc.Compute(s, y),
            Bootstrap.FromValues(resampled.ToList(), resampled.Length), null, roc, RocCurve.Youden(roc), resampled);
    }

    // A NaN or infinite score cannot be ranked (a diverged model, a bad checkpoint): the label's metrics are undefined.
    private static string? NonFinite(double[] scores)
    {
        int nan = scores.Count(double.IsNaN), infinite = scores.Count(double.IsInfinity);
        return nan + infinite == 0 ? null : $"{nan} NaN and {infinite} infinite scores of {scores.Length}: the model's outputs are not finite";
    }

    /// <summary>A result without an AUROC, for <paramref name="reason"/>.</summary>
    public static BinaryLabelResult Undefined(string label, int positives, int negatives, int excluded, string reason) =>
        new(label, positives, negatives, excluded, null, null, reason, [], null, []);

    /// <summary>AUROC of the resampled images with a target; NaN when the resample drew one class only.</summary>
    public static double ResampledAuroc(double[] scores, bool?[] targets, ReadOnlySpan<int> resample)
    {
        var s = new List<double>(resample.Length);
        var y = new List<bool>(resample.Length);
        foreach (int i in resample)
        {
            if (targets[i] is not bool t) continue;
            s.Add(scores[i]);
            y.Add(t);
        }
        return MedClip.Evaluation.Auroc.Compute(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(s),
            System.Runtime.InteropServices.CollectionsMarshal.AsSpan(y));
    }
}
