using System.Globalization;
using System.Text;

namespace MedClip.Data.Text;

/// <summary>
/// Python's str.lower on a whole word: each character's Unicode lower-case mapping (.NET's invariant one), plus the two
/// rules that go beyond one-to-one mapping: U+0130 (İ) becomes "i" + U+0307, and a capital sigma becomes final ς when
/// a cased letter precedes it and none follows (skipping case-ignorable characters either way), σ otherwise.
/// </summary>
internal static class PythonLowerCase
{
    private const int CapitalSigma = 0x3A3, FinalSigma = 0x3C2, DottedCapitalI = 0x130;

    public static string Lower(string word)
    {
        if (word.All(char.IsAscii)) return word.ToLowerInvariant();
        var runes = word.EnumerateRunes().ToArray();
        var lowered = new StringBuilder(word.Length);
        for (int i = 0; i < runes.Length; i++)
        {
            int c = runes[i].Value;
            if (c == DottedCapitalI) lowered.Append("i\u0307");
            else if (c == CapitalSigma && IsFinalSigma(runes, i)) lowered.Append((char)FinalSigma);
            else lowered.Append(Rune.ToLowerInvariant(runes[i]).ToString());
        }
        return lowered.ToString();
    }

    private static bool IsFinalSigma(Rune[] runes, int at)
    {
        int before = at - 1;
        while (before >= 0 && IsCaseIgnorable(runes[before])) before--;
        int after = at + 1;
        while (after < runes.Length && IsCaseIgnorable(runes[after])) after++;
        return before >= 0 && IsCased(runes[before]) && !(after < runes.Length && IsCased(runes[after]));
    }

    private static bool IsCased(Rune r) =>
        Rune.GetUnicodeCategory(r) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter;

    // Unicode's Case_Ignorable: marks, format characters, modifier letters and symbols, and the word-internal
    // punctuation of Word_Break MidLetter, MidNumLet and Single_Quote.
    private static bool IsCaseIgnorable(Rune r) =>
        Rune.GetUnicodeCategory(r) is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format
            or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol
        || r.Value is '\'' or '.' or ':' or 0xB7 or 0x387 or 0x5F4 or 0x2018 or 0x2019 or 0x2024 or 0x2027 or 0xFE13 or 0xFE52 or 0xFE55
            or 0xFF07 or 0xFF0E or 0xFF1A;
}
