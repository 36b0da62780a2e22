using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace MedClip.Data.Text;

/// <summary>
/// Lower-casing and accent stripping as Hugging Face's uncased BertTokenizer does them:
/// Python's c.lower() one character at a time, then NFD, then every non-spacing mark (Mn)
/// dropped. It works per character because canonical decomposition and lower-casing both do,
/// so the NFC that HF applies first changes nothing here. .NET cannot do this itself under
/// InvariantGlobalization (Normalize is a no-op there and U+0130 does not lower-case), so the
/// mapping comes from a table generated with Python's unicodedata and searched in place.
/// </summary>
internal static class UncasedCharacterFolding
{
    // Hangul syllables decompose arithmetically (Unicode 3.12): leading, vowel, optional trailing jamo.
    private const int HangulFirst = 0xAC00, HangulLast = 0xD7A3, LeadingBase = 0x1100, VowelBase = 0x1161, TrailingBase = 0x11A7;
    private const int VowelCount = 21, TrailingCount = 28;

    /// <summary>Room enough for any character's folded form (the longest in the table is 6 UTF-16 units).</summary>
    public const int MaxFoldedLength = 8;

    /// <summary>Writes what <paramref name="rune"/> becomes into <paramref name="destination"/> and returns its length: 0 for a non-spacing mark.</summary>
    public static int Fold(Rune rune, Span<char> destination)
    {
        int codePoint = rune.Value;
        if (rune.IsAscii)
        {
            destination[0] = (char)(codePoint is >= 'A' and <= 'Z' ? codePoint + ('a' - 'A') : codePoint);
            return 1;
        }
        if (Rune.GetUnicodeCategory(rune) == UnicodeCategory.NonSpacingMark)
            return 0;
        if (codePoint is >= HangulFirst and <= HangulLast)
        {
            int index = codePoint - HangulFirst;
            destination[0] = (char)(LeadingBase + index / (VowelCount * TrailingCount));
            destination[1] = (char)(VowelBase + index % (VowelCount * TrailingCount) / TrailingCount);
            if (index % TrailingCount == 0)
                return 2;
            destination[2] = (char)(TrailingBase + index % TrailingCount);
            return 3;
        }
        int entry = UncasedCharacterTable.FoldedCodePoints.BinarySearch(codePoint);
        if (entry < 0)
            return rune.EncodeToUtf16(destination);
        ReadOnlySpan<ushort> starts = UncasedCharacterTable.FoldedStarts;
        ReadOnlySpan<ushort> units = UncasedCharacterTable.FoldedUnits[starts[entry]..starts[entry + 1]];
        MemoryMarshal.Cast<ushort, char>(units).CopyTo(destination);
        return units.Length;
    }
}
