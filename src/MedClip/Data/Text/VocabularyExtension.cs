using System.Text.Json.Nodes;

namespace MedClip.Data.Text;

/// <summary>A word added to a pretrained vocabulary: how often the training reports use it and the pieces it used to be.</summary>
public sealed record AddedWord(string Word, int Count, int[] Pieces);

/// <summary>
/// Domain words for a pretrained BERT vocabulary. A "word of the reports" is one word as WordPiece receives it: the
/// output of the tokenizer's pre-tokenizer (HF's BasicTokenizer: lower-cased if the vocabulary is, accents stripped,
/// split at whitespace and punctuation). The <c>count</c> most frequent words that the pretrained vocabulary splits into
/// two or more pieces (none of them [UNK]) are appended to vocab.txt whole, so WordPiece's greedy longest match reads
/// each as one token; the ids of the pretrained tokens do not change.
/// </summary>
public sealed class VocabularyExtension
{
    private VocabularyExtension(ReportTokenizer tokenizer, IReadOnlyList<AddedWord> added, double before, double after)
    {
        (Tokenizer, Added, PiecesPerWordBefore, PiecesPerWordAfter) = (tokenizer, added, before, after);
    }

    /// <summary>The pretrained tokenizer with the added words at the end of its vocabulary.</summary>
    public ReportTokenizer Tokenizer { get; }

    public IReadOnlyList<AddedWord> Added { get; }

    /// <summary>Mean WordPiece tokens per word over every word of the reports, with the pretrained vocabulary.</summary>
    public double PiecesPerWordBefore { get; }

    /// <summary>The same with the extended vocabulary.</summary>
    public double PiecesPerWordAfter { get; }

    public static VocabularyExtension Build(ReportTokenizer pretrained, IReadOnlyList<string> reports, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        var frequency = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string report in reports)
        {
            foreach (string word in pretrained.Words(report))
                frequency[word] = frequency.GetValueOrDefault(word) + 1;
        }
        var added = frequency
            .Select(f => new AddedWord(f.Key, f.Value, [.. pretrained.TokenIds(f.Key)]))
            .Where(w => w.Pieces.Length >= 2 && !w.Pieces.Contains(pretrained.UnknownId))
            .OrderByDescending(w => w.Count).ThenBy(w => w.Word, StringComparer.Ordinal)
            .Take(count)
            .ToList();
        var tokens = pretrained.Vocabulary.Tokens.Concat(added.Select(w => w.Word));
        var extended = new ReportTokenizer(new WordPieceVocabulary(tokens, $"{pretrained.Vocabulary.Source} with {added.Count} added words"), pretrained.LowerCase);
        return new VocabularyExtension(extended, added, PiecesPerWord(pretrained, reports), PiecesPerWord(extended, reports));
    }

    /// <summary>
    /// For each token of <paramref name="extended"/> beyond <paramref name="pretrained"/>'s vocabulary, the ids the
    /// pretrained tokenizer splits it into (what its new embedding is initialised from).
    /// </summary>
    public static IReadOnlyList<int[]> PiecesOfAddedTokens(ReportTokenizer pretrained, ReportTokenizer extended)
    {
        var old = pretrained.Vocabulary.Tokens;
        var all = extended.Vocabulary.Tokens;
        if (all.Count < old.Count || !all.Take(old.Count).SequenceEqual(old, StringComparer.Ordinal))
            throw new InvalidDataException($"{extended.Vocabulary.Source} does not begin with the pretrained vocabulary of {pretrained.Vocabulary.Source}; start a new run folder.");
        return all.Skip(old.Count).Select(word => pretrained.TokenIds(word).ToArray()).ToList();
    }

    /// <summary>One line for the user: how many words were added, the first few, and the pieces per word before and after.</summary>
    public string Describe(int asked)
    {
        string how = Added.Count < asked ? $"all that the pretrained vocabulary splits; {asked} asked" : "the most frequent split ones";
        string first = string.Concat(Added.Take(5).Select((w, i) => (i == 0 ? ": " : ", ") + w.Word)) + (Added.Count > 5 ? ", ..." : "");
        return $"Vocabulary extended by {Added.Count} report words ({how}{first}); mean pieces per word of the training reports " +
            $"{PiecesPerWordBefore:F3} -> {PiecesPerWordAfter:F3}.";
    }

    /// <summary>pieces_per_word_before/after, pretrained_vocab_size, and per added word its word, count and pieces (as tokens).</summary>
    public JsonObject ToJson()
    {
        var tokens = Tokenizer.Vocabulary.Tokens;
        return new JsonObject
        {
            ["pieces_per_word_before"] = PiecesPerWordBefore,
            ["pieces_per_word_after"] = PiecesPerWordAfter,
            ["pretrained_vocab_size"] = tokens.Count - Added.Count,
            ["added"] = new JsonArray([.. Added.Select(w => new JsonObject
            {
                ["word"] = w.Word,
                ["count"] = w.Count,
                ["pieces"] = new JsonArray([.. w.Pieces.Select(p => (JsonNode)tokens[p])]),
            })]),
        };
    }

    /// <summary>Mean WordPiece tokens per pre-tokenized word over the texts.</summary>
    public static double PiecesPerWord(ReportTokenizer tokenizer, IReadOnlyList<string> texts)
    {
        long words = 0, pieces = 0;
        foreach (string text in texts)
        {
            words += tokenizer.Words(text).Count;
            pieces += tokenizer.TokenIds(text).Count;
        }
        return words == 0 ? 0 : (double)pieces / words;
    }
}
