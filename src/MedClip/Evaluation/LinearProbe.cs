namespace MedClip.Evaluation;

/// <summary>
/// Linear probe per label: an L2-regularised logistic regression on frozen image embeddings, fitted on the training
/// split's images with a target for that label and scored on the evaluated images, whose AUROC sits beside zero-shot.
/// </summary>
public static class LinearProbe
{
    /// <summary>lambda = 1 / C with scikit-learn's default C = 1.</summary>
    public const double Lambda = 1.0;

    /// <summary>A label whose training targets hold one class, or whose fit fails, has no probe: its scores are null and the reason is given.</summary>
    public sealed record Fit(string Label, int TrainPositives, int TrainNegatives, double[]? Scores, string? UndefinedReason, int Iterations);

    public static Fit Train(string label, EmbeddingMatrix train, bool?[] trainTargets, EmbeddingMatrix evaluated)
    {
        var rows = Enumerable.Range(0, train.Count).Where(i => trainTargets[i] is not null).ToArray();
        int positives = rows.Count(i => trainTargets[i] == true), negatives = rows.Length - positives;
        if (positives == 0 || negatives == 0)
            return new Fit(label, positives, negatives, null, $"the training split has only {(positives == 0 ? "negative" : "positive")} images for this label", 0);
        int d = train.Dimension;
        var features = new double[rows.Length * d];
        for (int r = 0; r < rows.Length; r++)
        {
            var row = train.Row(rows[r]);
            for (int j = 0; j < d; j++) features[r * d + j] = row[j];
        }
        LogisticRegression model;
        try
        {
            model = LogisticRegression.Fit(features, rows.Select(i => trainTargets[i]!.Value).ToArray(), d, Lambda);
        }
        catch (InvalidOperationException e)
        {
            // One label's probe must not cost the rest of the evaluation.
            return new Fit(label, positives, negatives, null, $"its logistic regression failed ({e.Message.TrimEnd('.')})", 0);
        }
        var scores = new double[evaluated.Count];
        var x = new double[d];
        for (int i = 0; i < evaluated.Count; i++)
        {
            var row = evaluated.Row(i);
            for (int j = 0; j < d; j++) x[j] = row[j];
            scores[i] = model.Probability(x);
        }
        return new Fit(label, positives, negatives, scores, null, model.Iterations);
    }
}
