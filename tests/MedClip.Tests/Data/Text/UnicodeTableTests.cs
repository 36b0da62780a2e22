using System.Globalization;
using System.Text;
using MedClip.Data.Text;

namespace MedClip.Tests.Data.Text;

/// <summary>
/// The generated Unicode tables and the code that searches them, on every code point, against
/// Python's unicodedata.normalize and str.lower (tools/reference/make_unicode_fixture.py writes the
/// expected values without reading the tables). A code point absent from the fixture has class 0
/// and is its own NFD, NFC and folded form.
/// </summary>
public sealed class UnicodeTableTests
{
    private sealed record Expected(int CombiningClass, string Nfd, string Nfc, string Folded);

    private static readonly Lazy<(Dictionary<int, Expected> Entries, List<(int First, int Last)> Unassigned)> Fixture = new(ReadFixture);

    [Fact]
    public void TablesAreTheFixturesUnicodeVersion()
    {
        string header = File.ReadLines(FixturePath()).First();
        Assert.Contains($"unicodedata {CanonicalNormalizationTable.UnicodeVersion}:", header);
        Assert.Equal(CanonicalNormalizationTable.UnicodeVersion, UncasedCharacterTable.UnicodeVersion);
    }

    [Fact]
    public void CombiningClass_MatchesUnicodedataOnEveryCodePoint()
    {
        var mismatches = new List<string>();
        foreach (int codePoint in CodePoints())
        {
            int expected = Fixture.Value.Entries.TryGetValue(codePoint, out Expected? e) ? e.CombiningClass : 0;
            int actual = CanonicalComposition.CombiningClass(codePoint);
            if (actual != expected)
                mismatches.Add($"U+{codePoint:X4}: expected {expected}, got {actual}");
        }
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} mismatches:\n" + string.Join("\n", mismatches.Take(5)));
    }

    [Fact]
    public void Nfc_MatchesUnicodedataOnEveryCodePointAndItsDecomposition()
    {
        var mismatches = new List<string>();
        foreach (int codePoint in CodePoints())
        {
            string text = char.ConvertFromUtf32(codePoint);
            Expected e = Fixture.Value.Entries.GetValueOrDefault(codePoint) ?? new Expected(0, text, text, text);
            string ofCharacter = CanonicalComposition.Normalize(text);
            string ofDecomposition = CanonicalComposition.Normalize(e.Nfd);
            if (ofCharacter != e.Nfc || ofDecomposition != e.Nfc)
                mismatches.Add($"U+{codePoint:X4}: expected {Hex(e.Nfc)}, got {Hex(ofCharacter)} and from NFD {Hex(ofDecomposition)}");
        }
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} mismatches:\n" + string.Join("\n", mismatches.Take(5)));
    }

    // Non-spacing marks are found with .NET's character data, a later Unicode version: it drops some code
    // points that the tables' version leaves unassigned, so those are not compared, and keeps U+1171E,
    // a non-spacing mark in Unicode 14 that Unicode 15 made a spacing mark.
    [Fact]
    public void UncasedFolding_MatchesUnicodedataOnEveryAssignedCodePoint()
    {
        var mismatches = new List<string>();
        Span<char> folded = stackalloc char[UncasedCharacterFolding.MaxFoldedLength];
        var unassigned = new HashSet<int>(Fixture.Value.Unassigned.SelectMany(r => Enumerable.Range(r.First, r.Last - r.First + 1)));
        foreach (int codePoint in CodePoints().Where(c => !unassigned.Contains(c) && c != 0x1171E))
        {
            string text = char.ConvertFromUtf32(codePoint);
            string expected = Fixture.Value.Entries.TryGetValue(codePoint, out Expected? e) ? e.Folded : text;
            string actual = folded[..UncasedCharacterFolding.Fold(new Rune(codePoint), folded)].ToString();
            if (actual != expected)
                mismatches.Add($"U+{codePoint:X4}: expected {Hex(expected)}, got {Hex(actual)}");
        }
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} mismatches:\n" + string.Join("\n", mismatches.Take(5)));
    }

    private static IEnumerable<int> CodePoints() =>
        Enumerable.Range(0, 0x110000).Where(codePoint => codePoint is < 0xD800 or > 0xDFFF);

    private static string FixturePath() => Path.Combine(AppContext.BaseDirectory, "Fixtures", "Text", "unicode_normalization.txt");

    private static (Dictionary<int, Expected>, List<(int, int)>) ReadFixture()
    {
        var entries = new Dictionary<int, Expected>();
        var unassigned = new List<(int, int)>();
        foreach (string line in File.ReadLines(FixturePath()).Where(l => !l.StartsWith('#')))
        {
            string[] fields = line.Split(';');
            if (fields[1] == "unassigned")
            {
                string[] range = fields[0].Split("..");
                unassigned.Add((int.Parse(range[0], NumberStyles.HexNumber), int.Parse(range[1], NumberStyles.HexNumber)));
                continue;
            }
            entries.Add(int.Parse(fields[0], NumberStyles.HexNumber),
                new Expected(int.Parse(fields[1], CultureInfo.InvariantCulture), Text(fields[2]), Text(fields[3]), Text(fields[4])));
        }
        return (entries, unassigned);
    }

    private static string Text(string hexCodePoints) =>
        string.Concat(hexCodePoints.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(h => char.ConvertFromUtf32(int.Parse(h, NumberStyles.HexNumber))));

    private static string Hex(string text) => string.Join(' ', text.EnumerateRunes().Select(r => r.Value.ToString("X4")));
}
