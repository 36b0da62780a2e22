using System.Text;

namespace MedClip.Data.Text;

/// <summary>
/// Unicode NFC (UAX #15): full canonical decomposition, canonical ordering of combining marks,
/// then canonical composition. Hugging Face's BasicTokenizer applies it before splitting words;
/// .NET's string.Normalize does nothing under InvariantGlobalization, so it is done here from
/// <see cref="CanonicalNormalizationTable"/>, which is searched in place.
/// </summary>
internal static class CanonicalComposition
{
    // The primary composites, derived from the one-level mappings (UAX #15, 1.3): every two-code-point mapping
    // except the listed exclusions and those that are or start with a non-starter.
    private static readonly Dictionary<(int, int), int> Composites = PrimaryComposites();

    // Hangul syllable arithmetic (Unicode 3.12): S = SBase + (L * VCount + V) * TCount + T.
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, SCount = LCount * VCount * TCount;

    public static string Normalize(string text)
    {
        if (IsAsciiOnly(text))
            return text;
        List<int> decomposed = Decompose(text);
        OrderCombiningMarks(decomposed);
        Compose(decomposed);
        var result = new StringBuilder(text.Length);
        foreach (int codePoint in decomposed)
            result.Append(char.ConvertFromUtf32(codePoint));
        return result.ToString();
    }

    private static bool IsAsciiOnly(string text)
    {
        foreach (char c in text)
        {
            if (c >= 0x80)
                return false;
        }
        return true;
    }

    internal static int CombiningClass(int codePoint)
    {
        int run = CanonicalNormalizationTable.CombiningClassRangeFirst.BinarySearch(codePoint);
        if (run < 0)
            run = ~run - 1;
        return run >= 0 && codePoint <= CanonicalNormalizationTable.CombiningClassRangeLast[run]
            ? CanonicalNormalizationTable.CombiningClassRangeValue[run]
            : 0;
    }

    // Full canonical decomposition: the one-level mapping, expanded until no part has one.
    private static void AppendDecomposition(int codePoint, List<int> output)
    {
        int entry = CanonicalNormalizationTable.DecomposedCodePoints.BinarySearch(codePoint);
        if (entry < 0)
        {
            output.Add(codePoint);
            return;
        }
        AppendDecomposition(CanonicalNormalizationTable.DecompositionFirst[entry], output);
        int second = CanonicalNormalizationTable.DecompositionSecond[entry];
        if (second != 0)
            AppendDecomposition(second, output);
    }

    private static int FirstOfDecomposition(int codePoint)
    {
        int entry = CanonicalNormalizationTable.DecomposedCodePoints.BinarySearch(codePoint);
        return entry < 0 ? codePoint : FirstOfDecomposition(CanonicalNormalizationTable.DecompositionFirst[entry]);
    }

    private static Dictionary<(int, int), int> PrimaryComposites()
    {
        var composites = new Dictionary<(int, int), int>();
        ReadOnlySpan<int> codePoints = CanonicalNormalizationTable.DecomposedCodePoints;
        for (int entry = 0; entry < codePoints.Length; entry++)
        {
            int composite = codePoints[entry], first = CanonicalNormalizationTable.DecompositionFirst[entry];
            int second = CanonicalNormalizationTable.DecompositionSecond[entry];
            bool nonStarter = CombiningClass(composite) != 0 || CombiningClass(FirstOfDecomposition(first)) != 0;
            if (second != 0 && !nonStarter && CanonicalNormalizationTable.CompositionExclusions.BinarySearch(composite) < 0)
                composites.Add((first, second), composite);
        }
        return composites;
    }

    private static List<int> Decompose(string text)
    {
        var output = new List<int>(text.Length);
        foreach (Rune rune in text.EnumerateRunes())
        {
            int codePoint = rune.Value;
            if (codePoint is >= SBase and < SBase + SCount)
            {
                int index = codePoint - SBase;
                output.Add(LBase + index / (VCount * TCount));
                output.Add(VBase + index % (VCount * TCount) / TCount);
                if (index % TCount != 0)
                    output.Add(TBase + index % TCount);
            }
            else
            {
                AppendDecomposition(codePoint, output);
            }
        }
        return output;
    }

    // Each run of combining marks (class > 0) is stably sorted by class (insertion sort: runs are short).
    private static void OrderCombiningMarks(List<int> codePoints)
    {
        for (int i = 1; i < codePoints.Count; i++)
        {
            int current = codePoints[i];
            int currentClass = CombiningClass(current);
            if (currentClass == 0)
                continue;
            int j = i;
            while (j > 0 && CombiningClass(codePoints[j - 1]) > currentClass)
            {
                codePoints[j] = codePoints[j - 1];
                j--;
            }
            codePoints[j] = current;
        }
    }

    // A character joins the last starter unless blocked: something between them with class 0 or
    // with a class not below its own (lastClass is 0 only when nothing lies between).
    private static void Compose(List<int> codePoints)
    {
        if (codePoints.Count == 0)
            return;
        int starterIndex = 0;
        int lastClass = CombiningClass(codePoints[0]) == 0 ? 0 : 256;
        int written = 1;
        for (int i = 1; i < codePoints.Count; i++)
        {
            int codePoint = codePoints[i];
            int codePointClass = CombiningClass(codePoint);
            if ((lastClass < codePointClass || lastClass == 0) && TryCompose(codePoints[starterIndex], codePoint, out int composite))
            {
                codePoints[starterIndex] = composite;
                continue;
            }
            if (codePointClass == 0)
                starterIndex = written;
            lastClass = codePointClass;
            codePoints[written++] = codePoint;
        }
        codePoints.RemoveRange(written, codePoints.Count - written);
    }

    private static bool TryCompose(int first, int second, out int composite)
    {
        if (first is >= LBase and < LBase + LCount && second is >= VBase and < VBase + VCount)
        {
            composite = SBase + ((first - LBase) * VCount + (second - VBase)) * TCount;
            return true;
        }
        if (first is >= SBase and < SBase + SCount && (first - SBase) % TCount == 0 && second is > TBase and < TBase + TCount)
        {
            composite = first + (second - TBase);
            return true;
        }
        return Composites.TryGetValue((first, second), out composite);
    }
}
