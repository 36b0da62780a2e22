using MedClip.Inference;

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

    /// <summary>A label's positive and negative directions: each side's prompt embeddings averaged, then renormalised.</summary>
    public static (float[] Positive, float[] Negative) Directions(CheckpointModel model, LabelPrompts prompts, string label) =>
        (model.EncodeTexts(prompts.Positive.Select(t => LabelPrompts.Fill(t, label)).ToList()).MeanDirection(),
         model.EncodeTexts(prompts.Negative.Select(t => LabelPrompts.Fill(t, label)).ToList()).MeanDirection());
}
