namespace MedClip.Evaluation;

/// <summary>Area under the ROC curve by the rank-sum (Mann-Whitney U) formula, ties counted half.</summary>
public static class Auroc
{
    /// <summary>AUROC of scores against binary labels; NaN when only one class is present or a score is not finite.</summary>
    public static double Compute(ReadOnlySpan<double> scores, ReadOnlySpan<bool> positive)
    {
        if (scores.Length != positive.Length) throw new ArgumentException("Scores and labels differ in length.");
        foreach (double score in scores)
            if (!double.IsFinite(score)) return double.NaN;
        int n = scores.Length;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        var s = scores.ToArray();
        Array.Sort(s, order);
        // Average ranks (1-based) over runs of tied scores.
        double positiveRankSum = 0;
        long positives = 0;
        for (int i = 0; i < n;)
        {
            int j = i;
            while (j + 1 < n && s[j + 1] == s[i]) j++;
            double averageRank = (i + j) / 2.0 + 1;
            for (int k = i; k <= j; k++)
            {
                if (positive[order[k]])
                {
                    positiveRankSum += averageRank;
                    positives++;
                }
            }
            i = j + 1;
        }
        long negatives = n - positives;
        if (positives == 0 || negatives == 0) return double.NaN;
        return (positiveRankSum - positives * (positives + 1) / 2.0) / ((double)positives * negatives);
    }
}
