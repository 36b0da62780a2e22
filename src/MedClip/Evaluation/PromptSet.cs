using System.Text.Json;

namespace MedClip.Evaluation;

/// <summary>A label's prompt templates; "{label}" in a template stands for the label in lower case.</summary>
public sealed record LabelPrompts(IReadOnlyList<string> Positive, IReadOnlyList<string> Negative)
{
    public static LabelPrompts Default { get; } = new(["{label}"], ["no {label}"]);

    public static string Fill(string template, string label) => template.Replace("{label}", label.ToLowerInvariant(), StringComparison.Ordinal);
}

/// <summary>How a prompt set scores labels: each label on its own from a positive and a negative prompt direction,
/// or the labels as classes of one softmax, each from the mean direction of its prompts.</summary>
public enum PromptForm { Pairs, Classes }

/// <summary>
/// Zero-shot prompts per label. A prompt file is JSON in one of two forms: label -> {"positive": [templates],
/// "negative": [templates]} (pairs; labels it leaves out keep "{label}" vs "no {label}"), or label -> [templates]
/// (classes of one softmax, several templates averaged). Label names are free; a dataset's label columns decide
/// which ones an evaluation can score.
/// </summary>
public sealed class PromptSet
{
    private readonly Dictionary<string, LabelPrompts> _pairs;
    private readonly Dictionary<string, IReadOnlyList<string>> _classes;

    private PromptSet(PromptForm form, IReadOnlyList<string> labels, Dictionary<string, LabelPrompts> pairs,
        Dictionary<string, IReadOnlyList<string>> classes, string source)
    {
        Form = form;
        Labels = labels;
        _pairs = pairs;
        _classes = classes;
        Source = source;
    }

    /// <summary>"default", "labels" for a list of class names, or the prompt file's path.</summary>
    public string Source { get; }

    public PromptForm Form { get; }

    /// <summary>The labels the set names, in its order; empty for the default pairs.</summary>
    public IReadOnlyList<string> Labels { get; }

    public static PromptSet Default { get; } = new(PromptForm.Pairs, [], [], [], "default");

    /// <summary>Class names that are their own prompts (a softmax over free-text labels).</summary>
    public static PromptSet ForClasses(IReadOnlyList<string> names) =>
        new(PromptForm.Classes, names, [], names.ToDictionary(n => n, n => (IReadOnlyList<string>)[n], StringComparer.Ordinal), "labels");

    /// <summary>The default pairs for the given labels.</summary>
    public static PromptSet DefaultPairs(IReadOnlyList<string> labels) => new(PromptForm.Pairs, labels, [], [], "default");

    public LabelPrompts For(string label) => _pairs.GetValueOrDefault(label) ?? LabelPrompts.Default;

    /// <summary>A class's prompts, filled in: its templates, or the label itself.</summary>
    public IReadOnlyList<string> ClassPrompts(string label) =>
        _classes.TryGetValue(label, out var templates) ? templates.Select(t => LabelPrompts.Fill(t, label)).ToList() : [label];

    /// <summary>A prompt file for an evaluation: pairs, naming only labels in <paramref name="labels"/>.</summary>
    public static PromptSet Read(string path, IReadOnlyList<string> labels)
    {
        var set = Read(path);
        if (set.Form != PromptForm.Pairs)
            throw new InvalidDataException($"Prompt file '{path}' lists prompts per class; evaluation scores each label on its own and needs label -> {{\"positive\": [...], \"negative\": [...]}}.");
        if (set.Labels.FirstOrDefault(l => !labels.Contains(l)) is { } unknown)
            throw new InvalidDataException($"Prompt file '{path}': '{unknown}' is not a label of this data; use one of {string.Join(", ", labels)}.");
        return set;
    }

    public static PromptSet Read(string path)
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
        if (root.ValueKind != JsonValueKind.Object || !root.EnumerateObject().Any())
            throw new InvalidDataException($"Prompt file '{path}' must be a JSON object with at least one label: label -> {{\"positive\": [...], \"negative\": [...]}} or label -> [...].");
        var entries = root.EnumerateObject().ToList();
        var form = entries[0].Value.ValueKind == JsonValueKind.Array ? PromptForm.Classes : PromptForm.Pairs;
        if (entries.Any(e => (e.Value.ValueKind == JsonValueKind.Array) != (form == PromptForm.Classes)))
            throw new InvalidDataException($"Prompt file '{path}' mixes label -> [...] and label -> {{\"positive\", \"negative\"}} entries; use one form for all labels.");
        var pairs = new Dictionary<string, LabelPrompts>(StringComparer.Ordinal);
        var classes = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            if (form == PromptForm.Classes)
                classes[entry.Name] = Templates(path, entry.Name, entry.Value, "a list of");
            else if (entry.Value.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"Prompt file '{path}': '{entry.Name}' needs {{\"positive\": [...], \"negative\": [...]}}.");
            else
                pairs[entry.Name] = new LabelPrompts(Side(path, entry, "positive"), Side(path, entry, "negative"));
        }
        return new PromptSet(form, entries.Select(e => e.Name).ToList(), pairs, classes, path);
    }

    private static IReadOnlyList<string> Side(string path, JsonProperty entry, string side) =>
        Templates(path, entry.Name, entry.Value.TryGetProperty(side, out var list) ? list : default, $"a \"{side}\" list of");

    private static IReadOnlyList<string> Templates(string path, string label, JsonElement list, string what)
    {
        if (list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0
            || list.EnumerateArray().Any(t => t.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(t.GetString())))
            throw new InvalidDataException($"Prompt file '{path}': '{label}' needs {what} one or more non-empty strings.");
        return list.EnumerateArray().Select(t => t.GetString()!).ToList();
    }
}
