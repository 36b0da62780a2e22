namespace MedClip.Evaluation;

/// <summary>Ranks (1 = first) of the correct match for each query of one direction, with open_clip's summary metrics.</summary>
public sealed record RetrievalDirection(string Name, IReadOnlyList<int> Ranks)
{
    public static readonly int[] RecallAt = [1, 5, 10];

    public double Recall(int k) => Ranks.Count(r => r <= k) / (double)Ranks.Count;

    public double MeanRank => Ranks.Average();

    /// <summary>open_clip: floor(median(rank - 1)) + 1, the median of an even count being the mean of the middle two.</summary>
    public double MedianRank
    {
        get
        {
            var zeroBased = Ranks.Select(r => (double)(r - 1)).Order().ToList();
            int n = zeroBased.Count;
            double median = n % 2 == 1 ? zeroBased[n / 2] : (zeroBased[n / 2 - 1] + zeroBased[n / 2]) / 2;
            return Math.Floor(median) + 1;
        }
    }
}

/// <summary>
/// Image-text retrieval over N image-report pairs: every image queries the N reports (image_to_text) and every report
/// queries the N images (text_to_image). Reports with identical token ids (several images of one study, or the same
/// wording) are one text: any of them is a correct match, so a query's rank is 1 + the number of wrong candidates
/// scoring at least as high as its best correct one (ties count against the query).
/// </summary>
public sealed record RetrievalResult(RetrievalDirection ImageToText, RetrievalDirection TextToImage, int Pairs, int DuplicateTexts, int DistinctTexts)
{
    /// <param name="textGroup">For each pair, an id shared by exactly the pairs whose texts are identical.</param>
    public static RetrievalResult Compute(EmbeddingMatrix images, EmbeddingMatrix texts, IReadOnlyList<int> textGroup)
    {
        int n = images.Count;
        if (texts.Count != n || textGroup.Count != n) throw new ArgumentException("Retrieval needs one text and one group id per image.");
        if (n == 0) throw new ArgumentException("Retrieval needs at least one image-text pair.");
        // similarity[i * n + j] = image i . text j
        var similarity = new float[(long)n * n];
        Parallel.For(0, n, i =>
        {
            var row = similarity.AsSpan(i * n, n);
            for (int j = 0; j < n; j++) row[j] = (float)EmbeddingMatrix.Dot(images.Row(i), texts.Row(j));
        });
        var imageToText = new int[n];
        var textToImage = new int[n];
        Parallel.For(0, n, q =>
        {
            imageToText[q] = Rank(j => similarity[(long)q * n + j], textGroup, textGroup[q], n);
            textToImage[q] = Rank(i => similarity[(long)i * n + q], textGroup, textGroup[q], n);
        });
        int distinct = textGroup.Distinct().Count();
        return new RetrievalResult(new RetrievalDirection("image_to_text", imageToText), new RetrievalDirection("text_to_image", textToImage),
            n, n - distinct, distinct);
    }

    private static int Rank(Func<int, float> score, IReadOnlyList<int> group, int correctGroup, int n)
    {
        float best = float.NegativeInfinity;
        for (int c = 0; c < n; c++)
            if (group[c] == correctGroup) best = Math.Max(best, score(c));
        // !(s < best) rather than s >= best: a NaN score (a diverged model) counts against the query, never for it.
        int ahead = 0;
        for (int c = 0; c < n; c++)
            if (group[c] != correctGroup && !(score(c) < best)) ahead++;
        return ahead + 1;
    }

    /// <summary>Group ids from token id sequences: equal sequences share the id of their first occurrence.</summary>
    public static int[] GroupsByTokens(IReadOnlyList<int[]> tokenIds)
    {
        var first = new Dictionary<string, int>(StringComparer.Ordinal);
        var groups = new int[tokenIds.Count];
        for (int i = 0; i < tokenIds.Count; i++)
            groups[i] = first.TryAdd(string.Join(',', tokenIds[i]), i) ? i : first[string.Join(',', tokenIds[i])];
        return groups;
    }
}
