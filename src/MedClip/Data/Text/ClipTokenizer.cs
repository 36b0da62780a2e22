using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MedClip.IO;
using Microsoft.ML.Tokenizers;

namespace MedClip.Data.Text;

/// <summary>
/// Hugging Face's slow CLIPTokenizer as it runs without ftfy: special tokens cut out first; BasicTokenizer's cleanup,
/// CJK spacing, NFC and lower-casing (<see cref="BertPreTokenizer.ForClip"/>); CLIP's split pattern
/// (<see cref="PatternPieces"/>); each piece's UTF-8 bytes mapped to characters (bytes_to_unicode); byte-level BPE with
/// "&lt;/w&gt;" on the last symbol; tokens missing from vocab.json become the unknown token. Encode gives
/// &lt;|startoftext|&gt; tokens &lt;|endoftext|&gt; then the pad token up to the context length, the tokens cut to
/// contextLength - 2 (padding="max_length", truncation=True).
/// </summary>
/// <remarks>
/// Microsoft.ML.Tokenizers' BpeTokenizer does the merge loop (with EndOfWordSuffix "&lt;/w&gt;"): it gives CLIP's ids
/// for every piece of the fixture. It does not do the rest: its pre-tokenizers split at other places than CLIP's
/// pattern (and would split a byte-mapped piece again), it has no byte-to-unicode step and no BasicTokenizer cleanup,
/// so those happen here and it is handed one byte-mapped piece at a time.
/// </remarks>
public sealed class ClipTokenizer : ITextTokenizer
{
    public const string VocabularyFileName = "vocab.json";
    public const string MergesFileName = "merges.txt";
    public const string SpecialTokensFileName = "special_tokens_map.json";
    public const string ConfigFileName = "tokenizer_config.json";
    public const string StartOfText = "<|startoftext|>";
    public const string EndOfText = "<|endoftext|>";

    // CLIPTokenizer reads merges.txt lines [1, 49152 - 256 - 2]: after the version line, at most 48,894 merges.
    private const int MaxMerges = 49152 - 256 - 2;
    private static readonly string[] Contractions = ["s", "t", "re", "ve", "m", "ll", "d"];
    private static readonly char[] ByteCharacters = BytesToUnicode();

    private readonly string _vocabularyJson;
    private readonly string _mergesText;
    private readonly Dictionary<string, int> _vocabulary;
    private readonly BpeTokenizer _bpe;
    private readonly BertPreTokenizer _preTokenizer;
    private readonly HashSet<string> _specialTokens;

    private ClipTokenizer(string vocabularyJson, string mergesText, Dictionary<string, int> vocabulary, string padToken, string source)
    {
        _vocabularyJson = vocabularyJson;
        _mergesText = mergesText;
        _vocabulary = vocabulary;
        PadToken = padToken;
        int Required(string token) => vocabulary.TryGetValue(token, out int id)
            ? id
            : throw new InvalidDataException($"'{source}' has no {token}; a CLIP vocab.json holds {StartOfText}, {EndOfText} and the pad token.");
        StartId = Required(StartOfText);
        EndId = Required(EndOfText);
        PadId = Required(padToken);
        _specialTokens = new HashSet<string>([StartOfText, EndOfText, padToken], StringComparer.Ordinal);
        _preTokenizer = BertPreTokenizer.ForClip(_specialTokens);
        var merges = string.Join('\n', mergesText.Trim().Split('\n').Skip(1).Take(MaxMerges));
        using var vocabularyStream = new MemoryStream(Encoding.UTF8.GetBytes(vocabularyJson));
        using var mergesStream = new MemoryStream(Encoding.UTF8.GetBytes("#version: 0.2\n" + merges + "\n"));
        _bpe = BpeTokenizer.Create(vocabularyStream, mergesStream, new WholeText(), normalizer: null, specialTokens: null,
            unknownToken: EndOfText, continuingSubwordPrefix: null, endOfWordSuffix: "</w>", fuseUnknownTokens: false);
    }

    public string PadToken { get; }
    public int StartId { get; }
    public int EndId { get; }
    public int PadId { get; }
    public int VocabularySize => _vocabulary.Count;

    /// <summary>The tokenizer of a Hugging Face CLIP folder: vocab.json, merges.txt and the pad token of special_tokens_map.json or tokenizer_config.json.</summary>
    public static ClipTokenizer FromFolder(string folder)
    {
        string vocabularyPath = Path.Combine(folder, VocabularyFileName), mergesPath = Path.Combine(folder, MergesFileName);
        foreach (string path in new[] { vocabularyPath, mergesPath })
        {
            if (!File.Exists(path))
                throw new FileNotFoundException($"'{path}' is missing; a CLIP folder holds both {VocabularyFileName} and {MergesFileName}.", path);
        }
        string vocabularyJson = File.ReadAllText(vocabularyPath);
        Dictionary<string, int> vocabulary;
        try
        {
            vocabulary = JsonSerializer.Deserialize<Dictionary<string, int>>(vocabularyJson)
                ?? throw new InvalidDataException($"'{vocabularyPath}' holds no token-to-id object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{vocabularyPath}' is not a token-to-id JSON object ({e.Message}); replace it with the model's vocab.json.", e);
        }
        string padToken = ReadPadToken(Path.Combine(folder, SpecialTokensFileName)) ?? ReadPadToken(Path.Combine(folder, ConfigFileName)) ?? EndOfText;
        try
        {
            return new ClipTokenizer(vocabularyJson, File.ReadAllText(mergesPath), vocabulary, padToken, vocabularyPath);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"'{mergesPath}' does not fit '{vocabularyPath}' ({e.Message}); use the pair saved with the model.", e);
        }
    }

    /// <summary>vocab.json and merges.txt as read, tokenizer_config.json and special_tokens_map.json for CLIPTokenizer.</summary>
    public void Save(string folder)
    {
        AtomicFile.WriteAllText(Path.Combine(folder, VocabularyFileName), _vocabularyJson);
        AtomicFile.WriteAllText(Path.Combine(folder, MergesFileName), _mergesText);
        var special = new JsonObject { ["bos_token"] = StartOfText, ["eos_token"] = EndOfText, ["unk_token"] = EndOfText, ["pad_token"] = PadToken };
        var options = new JsonSerializerOptions { WriteIndented = true };
        AtomicFile.WriteAllText(Path.Combine(folder, SpecialTokensFileName), special.ToJsonString(options));
        var config = new JsonObject { ["tokenizer_class"] = "CLIPTokenizer", ["model_max_length"] = 77, ["errors"] = "replace" };
        foreach (var (key, value) in special) config[key] = value!.DeepClone();
        AtomicFile.WriteAllText(Path.Combine(folder, ConfigFileName), config.ToJsonString(options));
    }

    /// <summary>The ids of the text's tokens, without &lt;|startoftext|&gt;, &lt;|endoftext|&gt; or padding.</summary>
    public List<int> TokenIds(string text)
    {
        var words = new List<string>();
        _preTokenizer.Split(text, words);
        var ids = new List<int>();
        foreach (string word in words)
        {
            if (_specialTokens.Contains(word))
            {
                ids.Add(_vocabulary[word]);
                continue;
            }
            // CLIPTokenizer's BPE cache starts with the two special tokens, so a piece that spells one is that token.
            foreach (string piece in PatternPieces(word))
            {
                if (piece is StartOfText or EndOfText) ids.Add(_vocabulary[piece]);
                else ids.AddRange(_bpe.EncodeToIds(ByteMapped(piece)));
            }
        }
        return ids;
    }

    public (int[] Ids, int[] AttentionMask) Encode(string text, int contextLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(contextLength, 2);
        var tokens = TokenIds(text);
        int kept = Math.Min(tokens.Count, contextLength - 2);
        var ids = new int[contextLength];
        var mask = new int[contextLength];
        ids[0] = StartId;
        tokens.CopyTo(0, ids, 1, kept);
        ids[1 + kept] = EndId;
        ids.AsSpan(2 + kept).Fill(PadId);
        mask.AsSpan(0, 2 + kept).Fill(1);
        return (ids, mask);
    }

    public EncodedBatch EncodeBatch(IReadOnlyList<string> texts, int contextLength) => ITextTokenizer.EncodeAll(this, texts, contextLength);

    /// <summary>
    /// re.findall of CLIP's pattern on one lower-cased word, alternatives tried in order at each position:
    /// &lt;|startoftext|&gt;, &lt;|endoftext|&gt;, 's 't 're 've 'm 'll 'd, a run of letters (\p{L}+), one number
    /// character (\p{N}), a run of anything else but whitespace ([^\s\p{L}\p{N}]+). Matching is by code point, as
    /// Python's regex module does (.NET's Regex would see a supplementary letter as two surrogates).
    /// </summary>
    public static IEnumerable<string> PatternPieces(string word)
    {
        var runes = word.EnumerateRunes().ToArray();
        int i = 0;
        while (i < runes.Length)
        {
            string rest = string.Concat(runes[i..].Select(r => r.ToString()));
            string? special = new[] { StartOfText, EndOfText }.FirstOrDefault(s => rest.StartsWith(s, StringComparison.OrdinalIgnoreCase));
            string? contraction = runes[i].Value == '\''
                ? Contractions.FirstOrDefault(c => rest.AsSpan(1).StartsWith(c, StringComparison.OrdinalIgnoreCase))
                : null;
            int end;
            if (special is not null) end = i + special.Length;
            else if (contraction is not null) end = i + 1 + contraction.Length;
            else if (Rune.IsLetter(runes[i]))
            {
                end = i;
                while (end < runes.Length && Rune.IsLetter(runes[end])) end++;
            }
            else if (Rune.IsNumber(runes[i])) end = i + 1;
            else if (Rune.IsWhiteSpace(runes[i]))
            {
                i++;
                continue;
            }
            else
            {
                end = i;
                while (end < runes.Length && !Rune.IsWhiteSpace(runes[end]) && !Rune.IsLetter(runes[end]) && !Rune.IsNumber(runes[end])) end++;
            }
            yield return string.Concat(runes[i..end].Select(r => r.ToString()));
            i = end;
        }
    }

    /// <summary>GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others for 256 + n in byte order.</summary>
    private static char[] BytesToUnicode()
    {
        var map = new char[256];
        int next = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)(256 + next++);
        }
        return map;
    }

    private static string ByteMapped(string piece)
    {
        var bytes = Encoding.UTF8.GetBytes(piece);
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) chars[i] = ByteCharacters[bytes[i]];
        return new string(chars);
    }

    private static string? ReadPadToken(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            return JsonNode.Parse(File.ReadAllText(path))?["pad_token"] switch
            {
                JsonValue value => value.GetValue<string>(),
                JsonObject added => (string?)added["content"],
                _ => null,
            };
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"'{path}' is not valid JSON with a string pad_token ({e.Message}); replace it with the model's file.", e);
        }
    }

    /// <summary>Hands the BPE one byte-mapped piece whole (the pieces are already cut).</summary>
    private sealed class WholeText : PreTokenizer
    {
        public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) =>
            text.Length > 0 ? [(0, text.Length)] : [];

        public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) =>
            text.Length > 0 ? [(0, text.Length)] : [];
    }
}
