using System.Globalization;
using System.Text;

namespace MedClip.Data.Text;

/// <summary>
/// Hugging Face's BasicTokenizer, the part of BertTokenizer before WordPiece, reproduced
/// step for step so that WordPiece sees the same words: control characters, NUL and U+FFFD
/// are removed and whitespace (space, tab, newline, carriage return, Zs) becomes a space;
/// CJK ideographs get a space either side; cased text is put in NFC
/// (<see cref="CanonicalComposition"/>); words are split at spaces and at the line and paragraph
/// separators that Python's str.split also splits on; uncased, every character is lower-cased and
/// stripped of accents (<see cref="UncasedCharacterFolding"/>); then every punctuation character
/// (ASCII 33-47, 58-64, 91-96, 123-126 and Unicode P*) becomes a word of its own. Symbols such as
/// ° or × are not punctuation and stay inside their word, as in HF. Special tokens are cut out of
/// the text first and pass whole, as PreTrainedTokenizer.tokenize does.
/// CLIPTokenizer without ftfy runs it as BasicTokenizer(strip_accents=False, do_split_on_punc=False):
/// <see cref="ForClip"/> keeps the cleanup, CJK spacing and NFC, lower-cases each word with Python's
/// str.lower (<see cref="PythonLowerCase"/>) and neither strips accents nor splits punctuation.
/// </summary>
internal sealed class BertPreTokenizer
{
    private readonly bool _lowerCase;
    private readonly bool _bertRules;
    private readonly string[] _specialTokens;

    public BertPreTokenizer(bool lowerCase, IEnumerable<string> specialTokens) : this(lowerCase, specialTokens, bertRules: true)
    {
    }

    private BertPreTokenizer(bool lowerCase, IEnumerable<string> specialTokens, bool bertRules)
    {
        _lowerCase = lowerCase;
        _bertRules = bertRules;
        _specialTokens = specialTokens.Where(t => t.Length > 0).Distinct(StringComparer.Ordinal).ToArray();
    }

    /// <summary>CLIPTokenizer's BasicTokenizer: lower-cased words, accents kept, punctuation not split off.</summary>
    public static BertPreTokenizer ForClip(IEnumerable<string> specialTokens) => new(lowerCase: true, specialTokens, bertRules: false);

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
        string cleaned = Clean(text);
        // NFC leaves BERT's uncased result unchanged (folding decomposes anyway), so only other text pays for it.
        bool fold = _lowerCase && _bertRules;
        string normalized = fold ? cleaned : CanonicalComposition.Normalize(cleaned);
        Span<char> folded = stackalloc char[UncasedCharacterFolding.MaxFoldedLength];
        foreach (Rune rune in normalized.EnumerateRunes())
        {
            if (rune.Value == ' ' || Rune.GetUnicodeCategory(rune) is UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator)
            {
                EndWord(word, words);
                continue;
            }
            int length = fold ? UncasedCharacterFolding.Fold(rune, folded) : rune.EncodeToUtf16(folded);
            ReadOnlySpan<char> rest = folded[..length];
            while (!rest.IsEmpty)
            {
                Rune.DecodeFromUtf16(rest, out Rune part, out int used);
                if (_bertRules && IsPunctuation(part))
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

    // _clean_text then _tokenize_chinese_chars: drop NUL, U+FFFD and control characters, turn
    // whitespace into spaces, put spaces around CJK ideographs.
    private static string Clean(ReadOnlySpan<char> text)
    {
        var cleaned = new StringBuilder(text.Length);
        Span<char> utf16 = stackalloc char[2];
        foreach (Rune rune in text.EnumerateRunes())
        {
            int codePoint = rune.Value;
            UnicodeCategory category = Rune.GetUnicodeCategory(rune);
            if (codePoint is ' ' or '\t' or '\n' or '\r' || category == UnicodeCategory.SpaceSeparator)
                cleaned.Append(' ');
            else if (codePoint == 0 || codePoint == 0xFFFD || IsControl(category))
                continue;
            else if (IsChineseCharacter(codePoint))
                cleaned.Append(' ').Append(utf16[..rune.EncodeToUtf16(utf16)]).Append(' ');
            else
                cleaned.Append(utf16[..rune.EncodeToUtf16(utf16)]);
        }
        return cleaned.ToString();
    }

    private void EndWord(StringBuilder word, List<string> words)
    {
        if (word.Length == 0)
            return;
        words.Add(_lowerCase && !_bertRules ? PythonLowerCase.Lower(word.ToString()) : word.ToString());
        word.Clear();
    }

    // _is_control: every C* category (tab, newline and carriage return are whitespace, tested first).
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
