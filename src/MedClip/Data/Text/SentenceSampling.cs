using System.Text.RegularExpressions;

namespace MedClip.Data.Text;

/// <summary>
/// Training-time text augmentation: a random subset of the report's sentences, in report order, instead of the whole
/// text (the sentence sampling of CXR-CLIP and the sentence shuffling of BioViL). Each sentence is kept with
/// <see cref="KeepProbability"/> and at least one always is, so the text tower also meets short texts that state one
/// finding or one negation, which is what zero-shot prompts look like. Then each kept sentence loses its final period
/// with <see cref="PeriodDropProbability"/> (punctuation dropout): reports end every sentence with one and prompts such
/// as "no edema" have none, so without it a prompt's missing period is itself something the text tower never saw.
/// Deterministic for the caller's generator.
/// </summary>
public sealed partial class SentenceSampling
{
    // A sentence ends at '.', '!' or '?' after a letter, a closing bracket or '%', followed by white space. A period
    // after a digit does not end one, so "1. No effusion" list numbers and "2.5 cm" stay inside their sentence.
    [GeneratedRegex(@"(?<=[A-Za-z\)%][.!?])\s+")]
    private static partial Regex SentenceEnd();

    public SentenceSampling(double keepProbability, double periodDropProbability = 0)
    {
        if (!(keepProbability > 0 && keepProbability <= 1))
            throw new ArgumentOutOfRangeException(nameof(keepProbability), keepProbability, "The sentence keep probability must be in (0, 1].");
        if (!(periodDropProbability >= 0 && periodDropProbability <= 1))
            throw new ArgumentOutOfRangeException(nameof(periodDropProbability), periodDropProbability, "The period drop probability must be in [0, 1].");
        KeepProbability = keepProbability;
        PeriodDropProbability = periodDropProbability;
    }

    public double KeepProbability { get; }

    public double PeriodDropProbability { get; }

    /// <summary>Whether <see cref="Sample"/> can return anything but the text itself.</summary>
    public bool ChangesTexts => KeepProbability < 1 || PeriodDropProbability > 0;

    public static IReadOnlyList<string> Sentences(string text) =>
        SentenceEnd().Split(text.Trim()).Where(s => s.Length > 0).ToArray();

    public string Sample(string text, Random rng)
    {
        IReadOnlyList<string> sentences = Sentences(text);
        bool subsample = KeepProbability < 1 && sentences.Count > 1;
        if (!subsample && PeriodDropProbability == 0) return text;
        List<string> kept = subsample ? KeptSentences(sentences, rng) : [.. sentences];
        if (PeriodDropProbability > 0)
        {
            for (int i = 0; i < kept.Count; i++)
            {
                if (SentencePeriod().IsMatch(kept[i]) && rng.NextDouble() < PeriodDropProbability) kept[i] = kept[i][..^1];
            }
        }
        return string.Join(" ", kept);
    }

    // Each sentence kept with KeepProbability, in report order; one drawn at random when none was.
    private List<string> KeptSentences(IReadOnlyList<string> sentences, Random rng)
    {
        var kept = new List<string>(sentences.Count);
        foreach (string sentence in sentences)
        {
            if (rng.NextDouble() < KeepProbability) kept.Add(sentence);
        }
        if (kept.Count == 0) kept.Add(sentences[rng.Next(sentences.Count)]);
        return kept;
    }

    // A sentence's own final period (after a letter, a closing bracket or '%'), not that of a list number such as "2.".
    [GeneratedRegex(@"[A-Za-z\)%]\.$")]
    private static partial Regex SentencePeriod();
}
