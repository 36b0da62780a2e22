using System.Text.Json;
using System.Text.Json.Nodes;

namespace MedClip.Data.Shards;

/// <summary>
/// A prep output folder: manifest.json (counts kept and skipped by reason, the shard list, a content hash), and per
/// shard images-NNNNN.u8 (<see cref="ShardImageFile"/>) with shard-NNNNN.json holding its samples (split, ids,
/// training text, its token ids under the set's vocab.txt, labels) and what it skipped. A shard's JSON is written last, so its presence marks the shard
/// complete; its images file is checked against the SHA-256 recorded in it.
/// </summary>
public static class ShardSet
{
    public const string ManifestFile = "manifest.json";
    public const string Format = "medclip-shards-1";

    public static string ImagesFile(int shard) => $"images-{shard:D5}{ShardImageFile.Extension}";

    public static string RecordFile(int shard) => $"shard-{shard:D5}.json";

    internal static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Reads a prep folder back as a dataset; each sample's image path names its image inside a shard.</summary>
    public static LoadedDataset Read(string folder)
    {
        string manifestPath = Path.Combine(folder, ManifestFile);
        if (!File.Exists(manifestPath))
            throw new FileNotFoundException($"'{folder}' has no {ManifestFile}; create the shards with medclip-train prep --data SPEC --out {folder}.", manifestPath);
        JsonNode manifest = ParseJson(manifestPath);
        if (manifest["format"]?.GetValue<string>() != Format)
            throw new InvalidDataException($"'{manifestPath}' is not a {Format} manifest; run prep again.");
        var samples = new List<ImageTextSample>();
        var tokens = new Dictionary<string, int[]>(StringComparer.Ordinal);
        foreach (JsonNode? shard in manifest["shards"]!.AsArray())
        {
            string record = Path.Combine(folder, shard!["record"]!.GetValue<string>());
            JsonNode node = ParseJson(record);
            string images = Path.Combine(folder, node["images_file"]!.GetValue<string>());
            foreach (JsonNode? sampleNode in node["samples"]!.AsArray())
            {
                ImageTextSample sample = SampleFromJson(sampleNode!, images);
                samples.Add(sample);
                if (sampleNode!["token_ids"] is JsonArray ids)
                    tokens[sample.ImagePath] = [.. ids.Select(id => id!.GetValue<int>())];
            }
        }
        var summary = LoadSummary.FromJson(manifest["summary"]!);
        // Shards written before token ids were stored, or whose vocabulary is gone, are re-tokenised from their text.
        bool hasVocabulary = manifest["vocab_sha256"] is not null && File.Exists(Path.Combine(folder, Text.ReportTokenizer.VocabularyFileName));
        return LoadedDataset.FromTexts(samples, summary) with
        {
            Tokens = hasVocabulary && tokens.Count == samples.Count
                ? new PreparedTokens(Path.GetFullPath(folder), manifest["vocab_sha256"]!.GetValue<string>(), manifest["do_lower_case"]!.GetValue<bool>(), tokens)
                : null,
        };
    }

    internal static JsonNode ParseJson(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllBytes(path)) ?? throw new InvalidDataException($"'{path}' is empty JSON; run prep again.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not valid JSON ({e.Message}); run prep again.", e);
        }
    }

    internal static JsonObject SampleToJson(ImageTextSample sample, int index, IReadOnlyList<int> tokenIds) => new()
    {
        ["index"] = index,
        ["split"] = sample.Split,
        ["subject_id"] = sample.SubjectId,
        ["study_id"] = sample.StudyId,
        ["dicom_id"] = sample.DicomId,
        ["view"] = sample.ViewPosition,
        ["source"] = sample.ImagePath,
        ["text"] = sample.Text,
        ["token_ids"] = new JsonArray([.. tokenIds.Select(id => (JsonNode)id)]),
        ["labels"] = new JsonObject(sample.Labels.Select(pair => KeyValuePair.Create(pair.Key, (JsonNode?)(pair.Value is float v ? JsonValue.Create(v) : null)))),
    };

    private static ImageTextSample SampleFromJson(JsonNode node, string imagesFile) => new(
        ShardImageFile.Reference(imagesFile, node["index"]!.GetValue<int>()),
        node["text"]!.GetValue<string>(),
        node["split"]!.GetValue<string>(),
        node["subject_id"]!.GetValue<string>(),
        node["study_id"]!.GetValue<string>(),
        node["dicom_id"]!.GetValue<string>(),
        node["view"]?.GetValue<string>(),
        node["labels"]!.AsObject().ToDictionary(pair => pair.Key, pair => pair.Value is null ? (float?)null : pair.Value.GetValue<float>(), StringComparer.Ordinal));
}
