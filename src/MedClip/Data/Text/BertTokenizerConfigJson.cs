using System.Text.Json;
using System.Text.Json.Nodes;
using MedClip.IO;

namespace MedClip.Data.Text;

/// <summary>
/// Reads and writes a Hugging Face tokenizer_config.json for BertTokenizer. Only BERT's standard
/// basic tokenization is supported (tokenize_chinese_chars on, accents stripped exactly when
/// lower-casing); a config asking for anything else is refused rather than tokenized differently.
/// A folder without the file gets HF's defaults, do_lower_case true included.
/// </summary>
public static class BertTokenizerConfigJson
{
    public const string FileName = "tokenizer_config.json";

    public static void Write(string path, bool lowerCase)
    {
        var json = new JsonObject
        {
            ["tokenizer_class"] = "BertTokenizer",
            ["do_lower_case"] = lowerCase,
            ["do_basic_tokenize"] = true,
            ["tokenize_chinese_chars"] = true,
            ["strip_accents"] = null,
            ["unk_token"] = WordPieceVocabulary.UnknownToken,
            ["sep_token"] = WordPieceVocabulary.SeparatorToken,
            ["pad_token"] = WordPieceVocabulary.PadToken,
            ["cls_token"] = WordPieceVocabulary.ClassToken,
            ["mask_token"] = WordPieceVocabulary.MaskToken,
        };
        AtomicFile.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>The do_lower_case setting of a tokenizer_config.json.</summary>
    public static bool ReadLowerCase(string path)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new InvalidDataException($"'{path}' is not a JSON object; it should be a Hugging Face tokenizer_config.json.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not valid JSON ({e.Message}); replace it with the text encoder's tokenizer_config.json.", e);
        }
        bool lowerCase = Flag(root, "do_lower_case", path) ?? true;
        if (Flag(root, "do_basic_tokenize", path) == false || Flag(root, "tokenize_chinese_chars", path) == false)
            throw new NotSupportedException($"'{path}' turns off BERT's basic tokenization or CJK splitting, which MedClip's tokenizer does not support.");
        bool? stripAccents = Flag(root, "strip_accents", path);
        if (stripAccents is not null && stripAccents != lowerCase)
            throw new NotSupportedException($"'{path}' sets strip_accents to {stripAccents.Value.ToString().ToLowerInvariant()} with do_lower_case {lowerCase.ToString().ToLowerInvariant()}; MedClip's tokenizer strips accents exactly when lower-casing, as BERT does by default.");
        return lowerCase;
    }

    private static bool? Flag(JsonObject root, string name, string path) => root[name] switch
    {
        null => null,
        JsonValue value when value.TryGetValue(out bool flag) => flag,
        _ => throw new InvalidDataException($"'{path}' has {name} = {root[name]!.ToJsonString()}; it must be true, false or null."),
    };
}
