namespace MedClip.Data.Text;

/// <summary>
/// HF's WordpieceTokenizer for one word: greedy longest match from the left, continuations
/// looked up with a "##" prefix; a word longer than 100 code points, or one whose rest matches
/// nothing, becomes a single [UNK]. Lengths and cut points are in code points, as Python's are.
/// </summary>
internal sealed class WordPieceEncoder
{
    public const int MaxCodePointsPerWord = 100;

    private readonly WordPieceVocabulary _vocabulary;
    private readonly int _unknownId;

    public WordPieceEncoder(WordPieceVocabulary vocabulary, int unknownId)
    {
        _vocabulary = vocabulary;
        _unknownId = unknownId;
    }

    public void Encode(string word, List<int> ids)
    {
        // Code point boundaries: cuts never split a surrogate pair.
        Span<int> bounds = word.Length <= 256 ? stackalloc int[word.Length + 1] : new int[word.Length + 1];
        int count = 0;
        for (int i = 0; i < word.Length; i += char.IsSurrogatePair(word, i) ? 2 : 1)
            bounds[count++] = i;
        bounds[count] = word.Length;
        if (count > MaxCodePointsPerWord)
        {
            ids.Add(_unknownId);
            return;
        }

        // "##" followed by the rest of the word, so every continuation candidate is one span.
        Span<char> continuation = word.Length <= 256 ? stackalloc char[word.Length + 2] : new char[word.Length + 2];
        continuation[0] = '#';
        continuation[1] = '#';

        int firstNew = ids.Count;
        int start = 0;
        while (start < count)
        {
            if (start > 0)
                word.AsSpan(bounds[start]).CopyTo(continuation[2..]);
            int end = count;
            int id = -1;
            while (end > start)
            {
                ReadOnlySpan<char> piece = start == 0
                    ? word.AsSpan(0, bounds[end])
                    : continuation[..(bounds[end] - bounds[start] + 2)];
                if (_vocabulary.TryGetId(piece, out id))
                    break;
                end--;
            }
            if (end == start)
            {
                ids.RemoveRange(firstNew, ids.Count - firstNew);
                ids.Add(_unknownId);
                return;
            }
            ids.Add(id);
            start = end;
        }
    }
}
