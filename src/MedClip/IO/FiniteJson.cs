using System.Text.Json;
using System.Text.Json.Nodes;

namespace MedClip.IO;

/// <summary>
/// JSON has no NaN or infinity (System.Text.Json refuses to write them). Before a metrics object is written, every
/// non-finite number becomes null, and an object's member also gets a "NAME_undefined_reason" beside it saying what it was.
/// </summary>
public static class FiniteJson
{
    public const string ReasonSuffix = "_undefined_reason";

    /// <summary>Replaces non-finite numbers in <paramref name="node"/> and its children, in place; returns the node.</summary>
    public static T Sanitize<T>(T node) where T : JsonNode
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (name, value) in o.ToList())
                {
                    if (NonFinite(value) is { } text)
                    {
                        o[name] = null;
                        o.TryAdd(name + ReasonSuffix, $"not a finite number ({text})");
                    }
                    else if (value is not null) Sanitize(value);
                }
                break;
            case JsonArray a:
                for (int i = 0; i < a.Count; i++)
                {
                    if (NonFinite(a[i]) is not null) a[i] = null;
                    else if (a[i] is { } child) Sanitize(child);
                }
                break;
        }
        return node;
    }

    /// <summary>The node serialised on one line (metrics.jsonl) after <see cref="Sanitize"/>.</summary>
    public static string ToLine(JsonObject line) => Sanitize(line).ToJsonString(new JsonSerializerOptions { WriteIndented = false });

    // "NaN", "Infinity" or "-Infinity" for a non-finite double or float value; null otherwise.
    private static string? NonFinite(JsonNode? node)
    {
        if (node is not JsonValue v) return null;
        if (v.TryGetValue(out double d) && !double.IsFinite(d)) return d.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (v.TryGetValue(out float f) && !float.IsFinite(f)) return f.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return null;
    }
}
