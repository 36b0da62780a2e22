using System.Globalization;
using System.Text;

namespace MedClip.Data.Text;

/// <summary>
/// Lower-casing and accent stripping as Hugging Face's uncased BertTokenizer does them:
/// Python's c.lower() one character at a time, then NFD, then every non-spacing mark (Mn)
/// dropped. It works per character because canonical decomposition and lower-casing both do,
/// so the NFC that HF applies first changes nothing here. .NET cannot do this itself under
/// InvariantGlobalization (Normalize is a no-op there and U+0130 does not lower-case), so the
/// mapping comes from a table generated with Python's unicodedata.
/// </summary>
internal static class UncasedCharacterFolding
{
    private static readonly Dictionary<int, string> Folded = UncasedCharacterTable.Entries.ToDictionary(e => e.CodePoint, e => e.Folded);

    // Hangul syllables decompose arithmetically (Unicode 3.12): leading, vowel, optional trailing jamo.
    private const int HangulFirst = 0xAC00, HangulLast = 0xD7A3, LeadingBase = 0x1100, VowelBase = 0x1161, TrailingBase = 0x11A7;
    private const int VowelCount = 21, TrailingCount = 28;

    /// <summary>Appends what <paramref name="rune"/> becomes; nothing for a non-spacing mark.</summary>
    public static void Append(Rune rune, StringBuilder output)
    {
        int codePoint = rune.Value;
        if (Rune.GetUnicodeCategory(rune) == UnicodeCategory.NonSpacingMark)
            return;
        if (codePoint is >= HangulFirst and <= HangulLast)
        {
            int index = codePoint - HangulFirst;
            output.Append((char)(LeadingBase + index / (VowelCount * TrailingCount)));
            output.Append((char)(VowelBase + index % (VowelCount * TrailingCount) / TrailingCount));
            if (index % TrailingCount != 0)
                output.Append((char)(TrailingBase + index % TrailingCount));
            return;
        }
        if (Folded.TryGetValue(codePoint, out string? folded))
            output.Append(folded);
        else
            output.Append(rune.ToString());
    }
}
