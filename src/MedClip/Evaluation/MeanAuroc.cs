namespace MedClip.Evaluation;

/// <summary>
/// The mean AUROC over a set of labels (the five CheXpert competition labels) with a bootstrap interval from the same
/// resamples as the labels' own, so the interval reflects that the labels are scored on the same images. Labels whose
/// AUROC is undefined are left out and named in <see cref="Excluded"/>; the mean is undefined when none is left.
/// </summary>
public sealed record MeanAuroc(double? Value, ConfidenceInterval? Interval, IReadOnlyList<string> Included, IReadOnlyList<string> Excluded)
{
    public static MeanAuroc Of(IReadOnlyList<BinaryLabelResult> results, IReadOnlyList<string> labels)
    {
        var included = results.Where(r => labels.Contains(r.Label) && r.Auroc is not null).ToList();
        var excluded = labels.Where(l => !included.Any(r => r.Label == l)).ToList();
        if (included.Count == 0) return new MeanAuroc(null, null, [], excluded);
        int resamples = included[0].ResampledAurocs.Count;
        var values = new List<double>(resamples);
        for (int b = 0; b < resamples; b++)
        {
            double sum = 0;
            foreach (var r in included) sum += r.ResampledAurocs[b];
            // NaN when any label drew one class in this resample: that resample is left out.
            if (double.IsFinite(sum)) values.Add(sum / included.Count);
        }
        return new MeanAuroc(included.Average(r => r.Auroc!.Value), Bootstrap.FromValues(values, resamples),
            included.Select(r => r.Label).ToList(), excluded);
    }
}
