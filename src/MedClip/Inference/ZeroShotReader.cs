using MedClip.Evaluation;
using MedClip.Models;

namespace MedClip.Inference;

/// <summary>
/// Zero-shot probabilities of a prompt set's labels for image embeddings, with every prompt encoded once up front.
/// Pairs: per label p = 1 / (1 + exp(-s (img.pos - img.neg))) (CheXzero), so labels are independent. Classes:
/// p = softmax_c(s img.dir_c) over the labels, dir_c the renormalised mean of class c's prompt embeddings.
/// s is the checkpoint's logit scale, exp(logit_scale).
/// </summary>
public sealed class ZeroShotReader
{
    private readonly float[][] _positive;
    private readonly float[][]? _negative;
    private readonly double _scale;

    private ZeroShotReader(PromptSet prompts, IReadOnlyList<string> labels, IReadOnlyList<LabelPromptTexts> texts, float[][] positive, float[][]? negative, double scale)
    {
        Prompts = prompts;
        Labels = labels;
        Texts = texts;
        _positive = positive;
        _negative = negative;
        _scale = scale;
    }

    public PromptSet Prompts { get; }
    public IReadOnlyList<string> Labels { get; }

    /// <summary>The prompts each label was read with, filled in (Negative empty for classes).</summary>
    public IReadOnlyList<LabelPromptTexts> Texts { get; }

    /// <summary>Encodes the prompts of <paramref name="labels"/>; a softmax needs at least two classes.</summary>
    public static ZeroShotReader Create(CheckpointModel model, PromptSet prompts, IReadOnlyList<string> labels)
    {
        if (labels.Count == 0) throw new ArgumentException("Zero-shot reading needs at least one label.");
        if (prompts.Form == PromptForm.Classes && labels.Count < 2)
            throw new ArgumentException($"Prompts ({prompts.Source}): a softmax over labels needs at least two labels, got only '{labels[0]}'; add one, or give positive/negative prompts.");
        var texts = labels.Select(label => prompts.Form == PromptForm.Classes
            ? new LabelPromptTexts(label, prompts.ClassPrompts(label), [])
            : new LabelPromptTexts(label, prompts.For(label).Positive.Select(t => LabelPrompts.Fill(t, label)).ToList(),
                prompts.For(label).Negative.Select(t => LabelPrompts.Fill(t, label)).ToList())).ToList();
        var pairs = prompts.Form == PromptForm.Pairs ? labels.Select(l => ZeroShotClassifier.Directions(model, prompts.For(l), l)).ToArray() : null;
        var positive = pairs?.Select(p => p.Positive).ToArray() ?? texts.Select(t => model.EncodeTexts(t.Positive).MeanDirection()).ToArray();
        var negative = pairs?.Select(p => p.Negative).ToArray();
        return new ZeroShotReader(prompts, labels, texts, positive, negative, model.LogitScale);
    }

    /// <summary>Probabilities [image][label] in label order.</summary>
    public double[][] Probabilities(EmbeddingMatrix images)
    {
        if (_negative is not null)
        {
            var byLabel = Labels.Select((_, l) => ZeroShotClassifier.Score(images, _positive[l], _negative[l], _scale)).ToArray();
            return Enumerable.Range(0, images.Count).Select(i => byLabel.Select(scores => scores[i]).ToArray()).ToArray();
        }
        var result = new double[images.Count][];
        for (int i = 0; i < images.Count; i++)
        {
            var p = result[i] = _positive.Select(direction => _scale * EmbeddingMatrix.Dot(images.Row(i), direction)).ToArray();
            double max = p.Max(), sum = 0;
            for (int l = 0; l < p.Length; l++) sum += p[l] = Math.Exp(p[l] - max);
            for (int l = 0; l < p.Length; l++) p[l] /= sum;
        }
        return result;
    }

    public double[] Probabilities(float[] image) => Probabilities(new EmbeddingMatrix(image, 1, image.Length))[0];
}

/// <summary>The filled-in prompts one label is read with.</summary>
public sealed record LabelPromptTexts(string Label, IReadOnlyList<string> Positive, IReadOnlyList<string> Negative);
