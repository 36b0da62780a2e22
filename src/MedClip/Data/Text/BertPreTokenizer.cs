using System.Globalization;
using System.Text;

namespace MedClip.Data.Text;

/// <summary>
/// Hugging Face's BasicTokenizer, the part of BertTokenizer before WordPiece, reproduced
/// character class for character class so that WordPiece sees the same words:
/// control characters, NUL and U+FFFD are removed; whitespace (space, tab, newline, carriage
/// return, Zs, and the line/paragraph separators that Python's str.split also splits on)
/// separates words; CJK ideographs become words of their own; when uncased, every character is
/// lower-cased and stripped of accents (<see cref="UncasedCharacterFolding"/>); then every
/// punctuation character (ASCII 33-47, 58-64, 91-96, 123-126 and Unicode P*) becomes a word of
/// its own. Symbols such as ° or × are not punctuation and stay inside their word, as in HF.
/// Special tokens are cut out of the text first and pass whole, as PreTrainedTokenizer.tokenize does.
/// </summary>
/// <remarks>
/// One difference remains for cased vocabularies: HF applies NFC before splitting, which .NET
/// cannot do under InvariantGlobalization, so text with decomposed accents tokenizes differently
/// there. Uncased tokenization is unaffected (see <see cref="UncasedCharacterFolding"/>).
/// </remarks>
internal sealed class BertPreTokenizer
{
    private readonly bool _lowerCase;
    private readonly string[] _specialTokens;

    public BertPreTokenizer(bool lowerCase, IEnumerable<string> specialTokens)
    {
        _lowerCase = lowerCase;
        _specialTokens = specialTokens.Where(t => t.Length > 0).Distinct(StringComparer.Ordinal).ToArray();
    }

    /// <summary>Appends the words of <paramref name="text"/> to <paramref name="words"/>.</summary>
    public void Split(string text, List<string> words)
    {
        var word = new StringBuilder();
        int start = 0;
        while (start < text.Length)
        {
            (int specialAt, string? special) = NextSpecialToken(text, start);
            SplitPlain(text.AsSpan(start, specialAt - start), words, word);
            if (special is null)
                break;
            words.Add(special);
            start = specialAt + special.Length;
        }
    }

    // Leftmost special token, the longest one where several start at the same place.
    private (int At, string? Token) NextSpecialToken(string text, int start)
    {
        int at = text.Length;
        string? found = null;
        foreach (string token in _specialTokens)
        {
            int index = text.IndexOf(token, start, StringComparison.Ordinal);
            if (index >= 0 && (index < at || (index == at && token.Length > found!.Length)))
                (at, found) = (index, token);
        }
        return (at, found);
    }

    private void SplitPlain(ReadOnlySpan<char> text, List<string> words, StringBuilder word)
    {
        Span<char> folded = stackalloc char[UncasedCharacterFolding.MaxFoldedLength];
        foreach (Rune rune in text.EnumerateRunes())
        {
            int codePoint = rune.Value;
            UnicodeCategory category = Rune.GetUnicodeCategory(rune);
            if (IsWhitespace(codePoint, category))
            {
                EndWord(word, words);
                continue;
            }
            if (codePoint == 0 || codePoint == 0xFFFD || IsControl(category))
                continue;

            int length = _lowerCase ? UncasedCharacterFolding.Fold(rune, folded) : rune.EncodeToUtf16(folded);
            if (IsChineseCharacter(codePoint))
            {
                EndWord(word, words);
                word.Append(folded[..length]);
                EndWord(word, words);
                continue;
            }
            ReadOnlySpan<char> rest = folded[..length];
            while (!rest.IsEmpty)
            {
                Rune.DecodeFromUtf16(rest, out Rune part, out int used);
                if (IsPunctuation(part))
                {
                    EndWord(word, words);
                    word.Append(rest[..used]);
                    EndWord(word, words);
                }
                else
                {
                    word.Append(rest[..used]);
                }
                rest = rest[used..];
            }
        }
        EndWord(word, words);
    }

    private static void EndWord(StringBuilder word, List<string> words)
    {
        if (word.Length == 0)
            return;
        words.Add(word.ToString());
        word.Clear();
    }

    // _is_whitespace, plus Zl and Zp: HF keeps those as characters but its str.split() splits on them.
    private static bool IsWhitespace(int codePoint, UnicodeCategory category) =>
        codePoint is ' ' or '\t' or '\n' or '\r'
        || category is UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator;

    // _is_control: every C* category (tab, newline and carriage return are whitespace and tested first).
    private static bool IsControl(UnicodeCategory category) =>
        category is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;

    // _is_punctuation: all non-alphanumeric ASCII (so $ + < = > ^ ` | ~ count) and every Unicode P* category.
    private static bool IsPunctuation(Rune rune)
    {
        int c = rune.Value;
        if (c is >= 33 and <= 47 or >= 58 and <= 64 or >= 91 and <= 96 or >= 123 and <= 126)
            return true;
        return Rune.GetUnicodeCategory(rune) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    // _is_chinese_char: the CJK Unified Ideographs blocks and their compatibility blocks.
    private static bool IsChineseCharacter(int c) =>
        c is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B820 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;
}
