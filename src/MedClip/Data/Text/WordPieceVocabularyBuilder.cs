namespace MedClip.Data.Text;

/// <summary>
/// Builds a WordPiece vocabulary from the training reports, for a text tower trained from
/// scratch, the way Hugging Face's WordPiece trainer does it (byte-pair merging with "##"
/// continuations):
/// <list type="number">
/// <item>the words are those the tokenizer will see (<see cref="BertPreTokenizer"/>), counted;</item>
/// <item>ids 0-4 are [PAD], [UNK], [CLS], [SEP], [MASK]; then every character seen at the start of a
/// word, then every character seen inside one with its "##" prefix, each group in ordinal order,
/// so every word of the training text (up to WordPiece's 100 characters) tokenizes without [UNK];</item>
/// <item>then, until the target size, the most frequent adjacent pair of pieces (counted over all
/// words, weighted by word frequency) is merged into a new piece ("pneum" + "##o" → "pneumo"),
/// ties broken by the ordinal order of the left then the right piece. Merging stops early when no
/// pair occurs twice. Frequent words end up whole, rarer ones as a few pieces.</item>
/// </list>
/// The result is deterministic: it depends only on the multiset of words. A text with more distinct
/// characters than the target size gives a vocabulary of just the special tokens and characters.
/// </summary>
public static class WordPieceVocabularyBuilder
{
    public const int DefaultTargetSize = 2000;
    private const int MinimumPairCount = 2;

    public static WordPieceVocabulary Build(IEnumerable<string> texts, int targetSize = DefaultTargetSize, bool lowerCase = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(targetSize, WordPieceVocabulary.SpecialTokens.Count);
        Dictionary<string, long> wordCounts = CountWords(texts, lowerCase);

        var tokens = new List<string>(WordPieceVocabulary.SpecialTokens);
        var starts = new SortedSet<string>(StringComparer.Ordinal);
        var continuations = new SortedSet<string>(StringComparer.Ordinal);
        foreach (string word in wordCounts.Keys)
        {
            string[] characters = Characters(word);
            starts.Add(characters[0]);
            for (int i = 1; i < characters.Length; i++)
                continuations.Add("##" + characters[i]);
        }
        tokens.AddRange(starts);
        tokens.AddRange(continuations);

        var merger = new PairMerger(tokens, wordCounts);
        while (tokens.Count < targetSize && merger.MergeMostFrequentPair(MinimumPairCount))
        {
        }
        return new WordPieceVocabulary(tokens, "the vocabulary built from the training reports");
    }

    private static Dictionary<string, long> CountWords(IEnumerable<string> texts, bool lowerCase)
    {
        var preTokenizer = new BertPreTokenizer(lowerCase, WordPieceVocabulary.SpecialTokens);
        var specialTokens = new HashSet<string>(WordPieceVocabulary.SpecialTokens, StringComparer.Ordinal);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var words = new List<string>();
        foreach (string text in texts)
        {
            words.Clear();
            preTokenizer.Split(text, words);
            foreach (string word in words)
            {
                if (!specialTokens.Contains(word))
                    counts[word] = counts.GetValueOrDefault(word) + 1;
            }
        }
        // Longer words are [UNK] whatever the vocabulary holds.
        foreach (string word in counts.Keys.Where(w => w.Length > WordPieceEncoder.MaxCodePointsPerWord).ToList())
        {
            if (Characters(word).Length > WordPieceEncoder.MaxCodePointsPerWord)
                counts.Remove(word);
        }
        return counts;
    }

    private static string[] Characters(string word) => word.EnumerateRunes().Select(r => r.ToString()).ToArray();

    /// <summary>
    /// The merge loop's state: each distinct word as a sequence of piece ids, how often each adjacent
    /// pair occurs, and which words hold it, so a merge only revisits the words it changes.
    /// </summary>
    private sealed class PairMerger
    {
        private readonly List<string> _tokens;
        private readonly Dictionary<string, int> _ids;
        private readonly List<int[]> _words = [];
        private readonly List<long> _wordCounts = [];
        private readonly Dictionary<(int Left, int Right), long> _pairCounts = [];
        private readonly Dictionary<(int Left, int Right), HashSet<int>> _pairWords = [];

        public PairMerger(List<string> tokens, Dictionary<string, long> wordCounts)
        {
            _tokens = tokens;
            _ids = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int id = 0; id < tokens.Count; id++)
                _ids[tokens[id]] = id;
            foreach ((string word, long count) in wordCounts)
            {
                string[] characters = Characters(word);
                int[] pieces = characters.Select((c, i) => _ids[i == 0 ? c : "##" + c]).ToArray();
                _words.Add(pieces);
                _wordCounts.Add(count);
                AddPairs(_words.Count - 1, +1);
            }
        }

        public bool MergeMostFrequentPair(int minimumCount)
        {
            (int Left, int Right)? best = null;
            long bestCount = 0;
            foreach (((int Left, int Right) pair, long count) in _pairCounts)
            {
                if (count > bestCount || (count == bestCount && ComesFirst(pair, best!.Value)))
                    (best, bestCount) = (pair, count);
            }
            if (best is not { } merge || bestCount < minimumCount)
                return false;

            string left = _tokens[merge.Left], right = _tokens[merge.Right];
            string merged = left + right[2..];
            if (!_ids.TryGetValue(merged, out int mergedId))
            {
                mergedId = _tokens.Count;
                _tokens.Add(merged);
                _ids[merged] = mergedId;
            }
            foreach (int word in _pairWords[merge].ToArray())
            {
                AddPairs(word, -1);
                _words[word] = Merge(_words[word], merge, mergedId);
                AddPairs(word, +1);
            }
            return true;
        }

        private bool ComesFirst((int Left, int Right) a, (int Left, int Right) b)
        {
            int byLeft = string.CompareOrdinal(_tokens[a.Left], _tokens[b.Left]);
            return byLeft != 0 ? byLeft < 0 : string.CompareOrdinal(_tokens[a.Right], _tokens[b.Right]) < 0;
        }

        private static int[] Merge(int[] pieces, (int Left, int Right) pair, int mergedId)
        {
            var result = new List<int>(pieces.Length);
            for (int i = 0; i < pieces.Length; i++)
            {
                if (i + 1 < pieces.Length && pieces[i] == pair.Left && pieces[i + 1] == pair.Right)
                {
                    result.Add(mergedId);
                    i++;
                }
                else
                {
                    result.Add(pieces[i]);
                }
            }
            return result.ToArray();
        }

        // sign +1 adds the word's pairs to the counts, -1 takes them away.
        private void AddPairs(int word, int sign)
        {
            int[] pieces = _words[word];
            long count = _wordCounts[word] * sign;
            for (int i = 0; i + 1 < pieces.Length; i++)
            {
                (int, int) pair = (pieces[i], pieces[i + 1]);
                long updated = _pairCounts.GetValueOrDefault(pair) + count;
                if (updated == 0)
                {
                    _pairCounts.Remove(pair);
                    _pairWords.Remove(pair);
                    continue;
                }
                _pairCounts[pair] = updated;
                if (sign > 0)
                {
                    if (!_pairWords.TryGetValue(pair, out HashSet<int>? holders))
                        _pairWords[pair] = holders = [];
                    holders.Add(word);
                }
            }
        }
    }
}
