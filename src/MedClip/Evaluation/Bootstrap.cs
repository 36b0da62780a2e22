namespace MedClip.Evaluation;

/// <summary>
/// A percentile bootstrap interval: the 2.5th and 97.5th percentiles (linear interpolation, as numpy's default) of a
/// statistic over the resamples where it is defined. <see cref="Valid"/> of <see cref="Resamples"/> counted.
/// </summary>
public sealed record ConfidenceInterval(double Lower, double Upper, int Resamples, int Valid);

/// <summary>
/// Resampling with replacement, seeded: resample b is always the same index list for the same (n, seed), so every
/// statistic computed on one set of items (all labels' AUROCs, their mean) sees the same resamples and a run repeats
/// exactly. <c>new Random(seed)</c> is .NET's seeded generator whose sequence is fixed across versions.
/// </summary>
public sealed class Bootstrap
{
    public const int DefaultResamples = 1000;
    public const double Level = 0.95;

    private readonly int[][] _indices;

    public Bootstrap(int count, int seed, int resamples = DefaultResamples)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(resamples, 1);
        var rng = new Random(seed);
        _indices = new int[resamples][];
        for (int b = 0; b < resamples; b++)
        {
            var idx = new int[count];
            for (int i = 0; i < count; i++) idx[i] = rng.Next(count);
            _indices[b] = idx;
        }
        Count = count;
        Seed = seed;
    }

    public int Count { get; }
    public int Seed { get; }
    public int Resamples => _indices.Length;

    public ReadOnlySpan<int> Indices(int resample) => _indices[resample];

    /// <summary>
    /// The interval of <paramref name="statistic"/>, evaluated on each resample's indices; resamples where it is not
    /// finite (an AUROC whose resample drew one class only) are left out and not counted in <see cref="ConfidenceInterval.Valid"/>.
    /// Null when no resample gives a value.
    /// </summary>
    public ConfidenceInterval? Interval(Func<int[], double> statistic)
    {
        var values = new List<double>(Resamples);
        foreach (var idx in _indices)
        {
            double v = statistic(idx);
            if (double.IsFinite(v)) values.Add(v);
        }
        return FromValues(values, Resamples);
    }

    /// <summary>The percentile interval of already computed resample values; non-finite values are left out.</summary>
    public static ConfidenceInterval? FromValues(List<double> values, int resamples)
    {
        values.RemoveAll(v => !double.IsFinite(v));
        if (values.Count == 0) return null;
        values.Sort();
        double alpha = (1 - Level) / 2;
        return new ConfidenceInterval(Percentile(values, alpha), Percentile(values, 1 - alpha), resamples, values.Count);
    }

    /// <summary>numpy.percentile's default ("linear"): position q (n - 1) between the two nearest sorted values.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double q)
    {
        double h = q * (sorted.Count - 1);
        int lo = (int)Math.Floor(h);
        int hi = Math.Min(lo + 1, sorted.Count - 1);
        return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
    }
}
