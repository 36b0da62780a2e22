using System.Text.Json;
using MedClip.Data.Text;

namespace MedClip.Tests.Data.Text;

/// <summary>
/// The words before WordPiece against Hugging Face's BasicTokenizer on 300 seeded random strings
/// (scripts, stacked combining marks, symbols, CJK, Hangul, control characters), cased and
/// uncased: this is where all of the Unicode handling lives. Expected words come from
/// tools/reference/make_tokenizer_fixtures.py.
/// </summary>
public sealed class BertPreTokenizerRandomTests
{
    private static readonly string FixtureFolder = Path.Combine(AppContext.BaseDirectory, "Fixtures", "Text");

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Words_MatchHuggingFaceBasicTokenizer(bool lowerCase)
    {
        var tokenizer = new ReportTokenizer(Path.Combine(FixtureFolder, "vocab.txt"), lowerCase);
        using JsonDocument document = JsonDocument.Parse(File.ReadAllText(Path.Combine(FixtureFolder, "bert_basic_tokenizer_random.json")));

        var mismatches = new List<string>();
        int checkedCases = 0;
        foreach (JsonElement c in document.RootElement.GetProperty("cases").EnumerateArray())
        {
            if (c.GetProperty("do_lower_case").GetBoolean() != lowerCase)
                continue;
            checkedCases++;
            string text = c.GetProperty("text").GetString()!;
            string[] expected = c.GetProperty("words").EnumerateArray().Select(w => w.GetString()!).ToArray();
            IReadOnlyList<string> words = tokenizer.Words(text);
            if (!expected.SequenceEqual(words))
                mismatches.Add($"{JsonSerializer.Serialize(text)}: expected {JsonSerializer.Serialize(expected)}, got {JsonSerializer.Serialize(words)}");
        }

        Assert.Equal(300, checkedCases);
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches.Take(5)));
    }
}
