using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MedClip.Data;
using MedClip.IO;
using MedClip.Models;

namespace MedClip.Evaluation;

/// <summary>Zero-shot AUROC of one label: positives and negatives counted after uncertain labels are excluded.</summary>
public sealed record LabelAuroc(string Label, double Auroc, int Positives, int Negatives);

public sealed record ZeroShotReport(int Images, IReadOnlyList<LabelAuroc> Labels, double MeanCompetitionAuroc);

/// <summary>
/// Zero-shot classification of every CheXpert label with the prompt pair "{label}" vs "no {label}" (lower case),
/// scored per image as in <see cref="ZeroShotClassifier"/>; AUROC per label and the mean over the five competition
/// labels. Writes metrics.json and predictions.csv (image, study_id, score_Label..., true_Label...).
/// </summary>
public static class ZeroShotEvaluation
{
    public static (string Positive, string Negative) Prompts(string label) => (label.ToLowerInvariant(), "no " + label.ToLowerInvariant());

    public static ZeroShotReport Run(CheckpointModel model, IReadOnlyList<ImageTextSample> samples, string? outputDirectory)
    {
        if (samples.Count == 0) throw new InvalidOperationException("The evaluation split has no usable images.");
        var images = model.EncodeImages(samples.Select(s => s.ImagePath).ToList());
        var labels = ChexpertLabels.All.Where(l => l != "No Finding").ToArray();
        var prompts = model.EncodeTexts(labels.SelectMany(l => new[] { Prompts(l).Positive, Prompts(l).Negative }).ToList());

        var scores = new Dictionary<string, double[]>();
        var results = new List<LabelAuroc>();
        for (int i = 0; i < labels.Length; i++)
        {
            var score = ZeroShotClassifier.Score(images, prompts.Row(2 * i), prompts.Row(2 * i + 1), model.LogitScale);
            scores[labels[i]] = score;
            var truth = samples.Select(s => s.Labels.GetValueOrDefault(labels[i])).ToList();
            var (auroc, positives, negatives) = ZeroShotClassifier.Evaluate(score, truth);
            results.Add(new LabelAuroc(labels[i], auroc, positives, negatives));
        }
        // Labels with one class only in this split have no AUROC; the mean covers the competition labels that have one.
        var competition = results.Where(r => ChexpertLabels.Competition.Contains(r.Label) && !double.IsNaN(r.Auroc)).ToList();
        double mean = competition.Count == 0 ? double.NaN : competition.Average(r => r.Auroc);
        var report = new ZeroShotReport(samples.Count, results, mean);
        if (outputDirectory is not null)
        {
            Directory.CreateDirectory(outputDirectory);
            WritePredictions(Path.Combine(outputDirectory, "predictions.csv"), samples, labels, scores);
            WriteMetrics(Path.Combine(outputDirectory, "metrics.json"), report);
        }
        return report;
    }

    private static void WritePredictions(string path, IReadOnlyList<ImageTextSample> samples, string[] labels, Dictionary<string, double[]> scores)
    {
        var csv = new StringBuilder();
        csv.AppendJoin(',', new[] { "image", "study_id" }.Concat(labels.Select(l => $"score_{l}")).Concat(labels.Select(l => $"true_{l}")).Select(Quote));
        csv.Append('\n');
        for (int i = 0; i < samples.Count; i++)
        {
            var s = samples[i];
            var fields = new List<string> { Quote(s.ImagePath), s.StudyId };
            fields.AddRange(labels.Select(l => scores[l][i].ToString("R", CultureInfo.InvariantCulture)));
            fields.AddRange(labels.Select(l => s.Labels.GetValueOrDefault(l) is float v ? ((int)v).ToString(CultureInfo.InvariantCulture) : ""));
            csv.AppendJoin(',', fields).Append('\n');
        }
        AtomicFile.WriteAllText(path, csv.ToString());
    }

    private static void WriteMetrics(string path, ZeroShotReport report)
    {
        var labels = new JsonObject();
        foreach (var r in report.Labels)
        {
            labels[r.Label] = new JsonObject
            {
                ["auroc"] = double.IsNaN(r.Auroc) ? null : r.Auroc,
                ["positives"] = r.Positives,
                ["negatives"] = r.Negatives,
            };
        }
        var root = new JsonObject
        {
            ["images"] = report.Images,
            ["zero_shot_prompts"] = "\"{label}\" vs \"no {label}\"",
            ["mean_auroc_competition"] = double.IsNaN(report.MeanCompetitionAuroc) ? null : report.MeanCompetitionAuroc,
            ["competition_labels"] = new JsonArray(ChexpertLabels.Competition.Select(l => (JsonNode)l).ToArray()),
            ["labels"] = labels,
        };
        AtomicFile.WriteAllText(path, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    private static string Quote(string field) => field.Contains(',') || field.Contains('"') ? "\"" + field.Replace("\"", "\"\"") + "\"" : field;
}
