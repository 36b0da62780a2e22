using System.Text.Json;
using MedClip.Data.Text;

namespace MedClip.Tests.Data.Text;

/// <summary>
/// Our ids against Hugging Face BertTokenizer's for the same vocab.txt, on strings chosen to
/// trip tokenizers up (newlines, symbols, accents, "___", CJK, control characters, long words).
/// The expected ids come from tools/reference/make_tokenizer_fixtures.py.
/// </summary>
public sealed class ReportTokenizerParityTests
{
    private static readonly string FixtureFolder = Path.Combine(AppContext.BaseDirectory, "Fixtures", "Text");
    private static readonly string VocabularyPath = Path.Combine(FixtureFolder, "vocab.txt");

    public static TheoryData<int> CaseIndices()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Cases().Count; i++)
            data.Add(i);
        return data;
    }

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void TokenIds_MatchHuggingFace(int index)
    {
        ParityCase c = Cases()[index];
        var tokenizer = new ReportTokenizer(VocabularyPath, c.DoLowerCase);

        List<int> ids = tokenizer.TokenIds(c.Text);

        Assert.True(c.Ids.SequenceEqual(ids),
            $"{JsonSerializer.Serialize(c.Text)}: expected [{string.Join(", ", c.Ids)}] ({string.Join(" ", c.Tokens)}), got [{string.Join(", ", ids)}] ({string.Join(" ", ids.Select(i => tokenizer.Vocabulary.Tokens[i]))})");
    }

    [Fact]
    public void Encode_AddsSpecialTokensAndPadsLikeHuggingFace()
    {
        var tokenizer = new ReportTokenizer(VocabularyPath);
        foreach (ParityCase c in Cases().Where(c => c.DoLowerCase))
        {
            foreach (int contextLength in new[] { 2, 5, 16 })
            {
                (int[] ids, int[] mask) = tokenizer.Encode(c.Text, contextLength);

                int kept = Math.Min(c.Ids.Length, contextLength - 2);
                int[] expected = [tokenizer.ClassId, .. c.Ids.Take(kept), tokenizer.SeparatorId, .. Enumerable.Repeat(tokenizer.PadId, contextLength - 2 - kept)];
                Assert.Equal(expected, ids);
                Assert.Equal(Enumerable.Repeat(1, kept + 2).Concat(Enumerable.Repeat(0, contextLength - 2 - kept)), mask);
            }
        }
    }

    private sealed record ParityCase(string Text, bool DoLowerCase, string[] Tokens, int[] Ids);

    private static readonly Lazy<List<ParityCase>> LoadedCases = new(ReadCases);

    private static List<ParityCase> Cases() => LoadedCases.Value;

    private static List<ParityCase> ReadCases()
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllText(Path.Combine(FixtureFolder, "bert_tokenizer_parity.json")));
        return document.RootElement.GetProperty("cases").EnumerateArray()
            .Select(e => new ParityCase(
                e.GetProperty("text").GetString()!,
                e.GetProperty("do_lower_case").GetBoolean(),
                e.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!).ToArray(),
                e.GetProperty("ids").EnumerateArray().Select(t => t.GetInt32()).ToArray()))
            .ToList();
    }
}
