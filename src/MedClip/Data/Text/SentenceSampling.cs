using System.Text.RegularExpressions;

namespace MedClip.Data.Text;

/// <summary>
/// Training-time text augmentation: a random subset of the report's sentences, in report order, instead of the whole
/// text (the sentence sampling of CXR-CLIP and the sentence shuffling of BioViL). Each sentence is kept with
/// <see cref="KeepProbability"/> and at least one always is, so the text tower also meets short texts that state one
/// finding or one negation, which is what zero-shot prompts look like. Deterministic for the caller's generator.
/// </summary>
public sealed partial class SentenceSampling
{
    // A sentence ends at '.', '!' or '?' after a letter, a closing bracket or '%', followed by white space. A period
    // after a digit does not end one, so "1. No effusion" list numbers and "2.5 cm" stay inside their sentence.
    [GeneratedRegex(@"(?<=[A-Za-z\)%][.!?])\s+")]
    private static partial Regex SentenceEnd();

    public SentenceSampling(double keepProbability)
    {
        if (!(keepProbability > 0 && keepProbability <= 1))
            throw new ArgumentOutOfRangeException(nameof(keepProbability), keepProbability, "The sentence keep probability must be in (0, 1].");
        KeepProbability = keepProbability;
    }

    public double KeepProbability { get; }

    public static IReadOnlyList<string> Sentences(string text) =>
        SentenceEnd().Split(text.Trim()).Where(s => s.Length > 0).ToArray();

    public string Sample(string text, Random rng)
    {
        IReadOnlyList<string> sentences = Sentences(text);
        if (sentences.Count <= 1) return text;
        var kept = new List<string>(sentences.Count);
        foreach (string sentence in sentences)
        {
            if (rng.NextDouble() < KeepProbability) kept.Add(sentence);
        }
        if (kept.Count == 0) kept.Add(sentences[rng.Next(sentences.Count)]);
        return string.Join(" ", kept);
    }
}
