namespace MedClip.Evaluation;

/// <summary>
/// Zero-shot scores for one label from a positive and a negative prompt direction (CheXzero): the probability of the
/// positive prompt in a softmax over the pair of scaled similarities, p = 1 / (1 + exp(-s (img.pos - img.neg))).
/// The scale s only calibrates; the ranking and so the AUROC do not depend on it.
/// </summary>
public static class ZeroShotClassifier
{
    public static double[] Score(EmbeddingMatrix images, ReadOnlySpan<float> positive, ReadOnlySpan<float> negative, double logitScale)
    {
        var scores = new double[images.Count];
        for (int i = 0; i < images.Count; i++)
        {
            double margin = EmbeddingMatrix.Dot(images.Row(i), positive) - EmbeddingMatrix.Dot(images.Row(i), negative);
            scores[i] = 1 / (1 + Math.Exp(-logitScale * margin));
        }
        return scores;
    }

    /// <summary>
    /// AUROC of scores against CheXpert-coded labels: 1 positive, 0 and blank (not mentioned) negative, -1 (uncertain)
    /// excluded unless mapped by <paramref name="uncertainAs"/>.
    /// </summary>
    public static (double Auroc, int Positives, int Negatives) Evaluate(IReadOnlyList<double> scores, IReadOnlyList<float?> labels, bool? uncertainAs = null)
    {
        var s = new List<double>();
        var y = new List<bool>();
        for (int i = 0; i < scores.Count; i++)
        {
            bool? positive = labels[i] switch
            {
                1f => true,
                -1f => uncertainAs,
                _ => false,
            };
            if (positive is null) continue;
            s.Add(scores[i]);
            y.Add(positive.Value);
        }
        int positives = y.Count(v => v);
        return (Auroc.Compute(s.ToArray(), y.ToArray()), positives, y.Count - positives);
    }
}
