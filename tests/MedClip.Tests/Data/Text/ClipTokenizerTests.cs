using System.Text.Json;
using System.Text.Json.Nodes;
using MedClip.Data.Text;

namespace MedClip.Tests.Data.Text;

/// <summary>
/// Our CLIP tokenizer against Hugging Face's slow CLIPTokenizer (without ftfy) on a few hundred texts: report
/// sentences, punctuation, digits, accents, apostrophes, other scripts, emoji, control characters, special tokens and
/// texts long enough to be cut. The expected ids come from tools/reference/make_clip_tokenizer_fixtures.py with the
/// vocab.json and merges.txt it wrote beside them.
/// </summary>
public sealed class ClipTokenizerTests
{
    private static readonly string FixtureFolder = Path.Combine(AppContext.BaseDirectory, "Fixtures", "Clip");
    private static readonly string TokenizerFolder = Path.Combine(FixtureFolder, "model");

    [Fact]
    public void EveryFixtureText_MatchesHuggingFaceIdForId()
    {
        var root = JsonNode.Parse(File.ReadAllText(Path.Combine(FixtureFolder, "clip_tokenizer_parity.json")))!;
        int context = (int)root["max_length"]!;
        var cases = root["cases"]!.AsArray();
        Assert.True(cases.Count >= 300, $"only {cases.Count} fixture texts");
        var tokenizer = ClipTokenizer.FromFolder(TokenizerFolder);
        var mismatches = new List<string>();
        foreach (var c in cases)
        {
            string text = (string)c!["text"]!;
            int[] expectedIds = c["input_ids"]!.AsArray().Select(n => (int)n!).ToArray();
            int[] expectedMask = c["attention_mask"]!.AsArray().Select(n => (int)n!).ToArray();
            var (ids, mask) = tokenizer.Encode(text, context);
            if (!ids.SequenceEqual(expectedIds) || !mask.SequenceEqual(expectedMask))
                mismatches.Add($"{JsonSerializer.Serialize(text)}: expected [{string.Join(",", expectedIds.Where((_, i) => expectedMask[i] == 1))}], got [{string.Join(",", ids.Where((_, i) => mask[i] == 1))}]");
        }
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} of {cases.Count} texts differ:\n{string.Join("\n", mismatches.Take(20))}");
    }

    [Fact]
    public void EncodeBatch_RowsEqualEncode()
    {
        var tokenizer = ClipTokenizer.FromFolder(TokenizerFolder);
        string[] texts = ["No acute process.", "", "Small left effusion; stable cardiomegaly."];
        var batch = tokenizer.EncodeBatch(texts, 12);
        for (int row = 0; row < texts.Length; row++)
        {
            var (ids, mask) = tokenizer.Encode(texts[row], 12);
            Assert.Equal(ids, batch.Ids[(row * 12)..((row + 1) * 12)]);
            Assert.Equal(mask, batch.AttentionMask[(row * 12)..((row + 1) * 12)]);
        }
    }

    [Theory]
    [InlineData("don't", new[] { "don", "'t" })]
    [InlineData("x²+y²", new[] { "x", "²", "+", "y", "²" })]
    [InlineData("a...'s", new[] { "a", "...'", "s" })]
    [InlineData("𝐋ung", new[] { "𝐋ung" })]
    [InlineData("(<|endoftext|>)", new[] { "(<|", "endoftext", "|>)" })]
    [InlineData("<|endoftext|>)", new[] { "<|endoftext|>", ")" })]
    public void PatternPieces_FollowClipsPattern(string word, string[] expected) =>
        Assert.Equal(expected, ClipTokenizer.PatternPieces(word));

    [Fact]
    public void Save_WritesAFolderThatLoadsTheSameTokenizer()
    {
        string folder = Directory.CreateTempSubdirectory("medclip-clip-tokenizer-").FullName;
        try
        {
            var tokenizer = ClipTokenizer.FromFolder(TokenizerFolder);
            tokenizer.Save(folder);
            var reloaded = ITextTokenizer.FromFolder(folder);
            Assert.IsType<ClipTokenizer>(reloaded);
            const string text = "Pleural effusions, 2.5 cm; naïve";
            Assert.Equal(tokenizer.Encode(text, 20).Ids, reloaded.Encode(text, 20).Ids);
            Assert.Equal("CLIPTokenizer", (string?)JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "tokenizer_config.json")))!["tokenizer_class"]);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData("vocab.json")]
    [InlineData("merges.txt")]
    public void MissingFile_IsOneSentenceNamingIt(string file)
    {
        string folder = Directory.CreateTempSubdirectory("medclip-clip-tokenizer-").FullName;
        try
        {
            foreach (string name in new[] { "vocab.json", "merges.txt" }.Where(n => n != file))
                File.Copy(Path.Combine(TokenizerFolder, name), Path.Combine(folder, name));
            var e = Assert.Throws<FileNotFoundException>(() => ITextTokenizer.FromFolder(folder));
            Assert.Contains(Path.Combine(folder, file), e.Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
