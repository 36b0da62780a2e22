using MedClip.Data;
using MedClip.Data.Mimic;

namespace MedClip.Evaluation;

/// <summary>The 5x200-style task's sample: image indices and their class (an index into <see cref="FiveByTwoHundred.Classes"/>).</summary>
public sealed record FiveByTwoHundredSample(IReadOnlyList<int> Images, IReadOnlyList<int> Classes, IReadOnlyList<int> CandidatesPerClass);

/// <summary>
/// The 5x200-style multiclass task (GLoRIA, MedCLIP) on CheXpert labels: frontal images positive for exactly one of
/// the five competition labels and negative for the other four (0, or not mentioned, as in zero-shot; an uncertain
/// label on any of the five excludes the image), up to <see cref="PerClass"/> per class drawn with a fixed seed.
/// </summary>
public static class FiveByTwoHundred
{
    public const int PerClass = 200;

    public static IReadOnlyList<string> Classes => ChexpertLabels.Competition;

    /// <summary>The class of an image, or null when it does not qualify.</summary>
    public static int? ClassOf(ImageTextSample sample)
    {
        if (sample.ViewPosition is null || !MimicCxrReader.FrontalViews.Contains(sample.ViewPosition)) return null;
        int? found = null;
        for (int c = 0; c < Classes.Count; c++)
        {
            float? label = sample.Labels.GetValueOrDefault(Classes[c]);
            if (label == -1f) return null;
            if (label != 1f) continue;
            if (found is not null) return null;
            found = c;
        }
        return found;
    }

    /// <summary>
    /// Per class, a seeded shuffle of its qualifying images and the first <paramref name="perClass"/> of it; the
    /// result is in input order.
    /// </summary>
    public static FiveByTwoHundredSample Draw(IReadOnlyList<ImageTextSample> samples, int seed, int perClass = PerClass)
    {
        var rng = new Random(seed);
        var chosen = new List<(int Image, int Class)>();
        var candidates = new int[Classes.Count];
        for (int c = 0; c < Classes.Count; c++)
        {
            var pool = Enumerable.Range(0, samples.Count).Where(i => ClassOf(samples[i]) == c).ToArray();
            candidates[c] = pool.Length;
            rng.Shuffle(pool);
            chosen.AddRange(pool.Take(perClass).Select(i => (i, c)));
        }
        chosen.Sort((a, b) => a.Image.CompareTo(b.Image));
        return new FiveByTwoHundredSample(chosen.Select(x => x.Image).ToList(), chosen.Select(x => x.Class).ToList(), candidates);
    }
}
