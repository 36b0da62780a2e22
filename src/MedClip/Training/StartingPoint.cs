using System.Text.Json;
using MedClip.Models;

namespace MedClip.Training;

/// <summary>
/// Where a model's weights started, in words, for logs and evaluation reports: from scratch (a preset or config), from
/// a whole pretrained model folder (CLIP, or an earlier checkpoint), or from pretrained towers (--image-encoder,
/// --text-encoder) with fresh projections.
/// </summary>
public static class StartingPoint
{
    public static string Describe(TrainingOptions options)
    {
        if (options.ImageEncoder is not null || options.TextEncoder is not null)
        {
            var towers = new[] { ("image", options.ImageEncoder), ("text", options.TextEncoder) }.Where(t => t.Item2 is not null)
                .Select(t => $"{t.Item1} tower from {t.Item2}");
            return $"towers: {options.Model} with the {string.Join(", ", towers)}";
        }
        if (ModelPresets.Names.Contains(options.Model) || options.Model.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            return $"scratch: {options.Model}";
        return IsClipModel(options.Model) ? $"CLIP: {options.Model}" : $"pretrained model: {options.Model}";
    }

    /// <summary>
    /// The starting point of the run that wrote <paramref name="checkpoint"/>, from the train_options.json of its run
    /// folder (the checkpoint's parent, or the folder itself); a CLIPModel folder that no run wrote is CLIP as downloaded.
    /// </summary>
    public static string ForCheckpoint(string checkpoint)
    {
        string full = Path.GetFullPath(checkpoint);
        foreach (string folder in new[] { full, Path.GetDirectoryName(full) }.OfType<string>())
        {
            string path = Path.Combine(folder, TrainingRun.OptionsFile);
            if (!File.Exists(path)) continue;
            try
            {
                if (JsonSerializer.Deserialize<TrainingOptions>(File.ReadAllText(path)) is { } options) return Describe(options);
            }
            catch (JsonException)
            {
                return $"unknown ('{path}' is not readable)";
            }
        }
        return IsClipModel(checkpoint) ? "CLIP: pretrained CLIPModel folder, not fine-tuned" : "unknown (no train_options.json beside the checkpoint)";
    }

    private static bool IsClipModel(string folder)
    {
        string config = Path.Combine(folder, CheckpointStore.ConfigFile);
        try
        {
            return File.Exists(config) && DualEncoderConfigJson.Read(config).Config.Layout == CheckpointLayout.ClipModel;
        }
        catch (InvalidDataException)
        {
            return false;
        }
    }
}
