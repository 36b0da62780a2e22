using System.Text.Json;
using System.Text.Json.Nodes;

namespace MedClip.Evaluation;

/// <summary>The training loss, validation loss and logit scale by step, read from a run folder's metrics.jsonl.</summary>
public sealed record TrainingCurves(
    IReadOnlyList<(int Step, double Value)> Loss,
    IReadOnlyList<(int Step, double Value)> ValidationLoss,
    IReadOnlyList<(int Step, double Value)> LogitScale,
    string Path)
{
    /// <summary>The curves of the run that a checkpoint folder belongs to (its parent folder), or null when it has no metrics.jsonl.</summary>
    public static TrainingCurves? ForCheckpoint(string checkpoint)
    {
        string? run = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(checkpoint));
        string path = System.IO.Path.Combine(run ?? ".", "metrics.jsonl");
        if (!File.Exists(path)) return null;
        var loss = new List<(int, double)>();
        var validation = new List<(int, double)>();
        var scale = new List<(int, double)>();
        foreach (string text in File.ReadLines(path))
        {
            // A run killed mid-write can leave a partial last line; the curves are drawn from the lines that parse.
            if (Parse(text) is not { } line || line["step"] is not { } stepNode || stepNode.GetValueKind() != JsonValueKind.Number) continue;
            int step = stepNode.GetValue<int>();
            Add(loss, step, line["loss"]);
            Add(validation, step, line["val_loss"]);
            Add(scale, step, line["logit_scale"]);
        }
        return loss.Count == 0 && validation.Count == 0 && scale.Count == 0 ? null : new TrainingCurves(loss, validation, scale, path);
    }

    private static JsonObject? Parse(string line)
    {
        try
        {
            return JsonNode.Parse(line) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static void Add(List<(int, double)> curve, int step, JsonNode? value)
    {
        if (value is null || value.GetValueKind() != JsonValueKind.Number) return;
        curve.Add((step, value.GetValue<double>()));
    }
}
