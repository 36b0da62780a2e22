using System.Text.Json;

namespace MedClip.Evaluation;

/// <summary>A label's prompt templates; "{label}" in a template stands for the label in lower case.</summary>
public sealed record LabelPrompts(IReadOnlyList<string> Positive, IReadOnlyList<string> Negative)
{
    public static LabelPrompts Default { get; } = new(["{label}"], ["no {label}"]);

    public static string Fill(string template, string label) => template.Replace("{label}", label.ToLowerInvariant(), StringComparison.Ordinal);
}

/// <summary>
/// Zero-shot prompts per label: "{label}" vs "no {label}" unless a prompt file says otherwise. A prompt file is JSON,
/// label (spelled as in CheXpert) -> {"positive": [templates], "negative": [templates]}; labels it leaves out keep
/// the default pair.
/// </summary>
public sealed class PromptSet
{
    private readonly Dictionary<string, LabelPrompts> _prompts;

    private PromptSet(Dictionary<string, LabelPrompts> prompts, string source)
    {
        _prompts = prompts;
        Source = source;
    }

    /// <summary>"default", or the prompt file's path.</summary>
    public string Source { get; }

    public static PromptSet Default { get; } = new([], "default");

    public LabelPrompts For(string label) => _prompts.GetValueOrDefault(label) ?? LabelPrompts.Default;

    public static PromptSet Read(string path, IReadOnlyList<string> labels)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Prompt file '{path}' does not exist.", path);
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            root = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Prompt file '{path}' is not valid JSON ({e.Message}).", e);
        }
        if (root.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"Prompt file '{path}' must be a JSON object: label -> {{\"positive\": [...], \"negative\": [...]}}.");
        var prompts = new Dictionary<string, LabelPrompts>(StringComparer.Ordinal);
        foreach (var entry in root.EnumerateObject())
        {
            if (!labels.Contains(entry.Name))
                throw new InvalidDataException($"Prompt file '{path}': '{entry.Name}' is not a label; use one of {string.Join(", ", labels)}.");
            prompts[entry.Name] = new LabelPrompts(Templates(path, entry, "positive"), Templates(path, entry, "negative"));
        }
        return new PromptSet(prompts, path);
    }

    private static IReadOnlyList<string> Templates(string path, JsonProperty entry, string side)
    {
        if (entry.Value.ValueKind != JsonValueKind.Object || !entry.Value.TryGetProperty(side, out var list) || list.ValueKind != JsonValueKind.Array
            || list.GetArrayLength() == 0 || list.EnumerateArray().Any(t => t.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(t.GetString())))
            throw new InvalidDataException($"Prompt file '{path}': '{entry.Name}' needs a \"{side}\" list of one or more non-empty strings.");
        return list.EnumerateArray().Select(t => t.GetString()!).ToList();
    }
}
