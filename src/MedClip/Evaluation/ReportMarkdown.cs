using System.Globalization;
using System.Text;
using MedClip.Data;

namespace MedClip.Evaluation;

/// <summary>report.md: what was evaluated (command, checkpoint and data hashes), the tables with intervals, and the plots.</summary>
public static class ReportMarkdown
{
    public static string Build(EvaluationReport r, TrainingCurves? curves)
    {
        var o = r.Options;
        var md = new StringBuilder();
        md.AppendLine("# MedClip evaluation").AppendLine();
        md.AppendLine("```").AppendLine(o.CommandLine).AppendLine("```").AppendLine();
        md.AppendLine("| | |").AppendLine("|---|---|");
        md.AppendLine($"| checkpoint | `{Path.GetFullPath(o.Checkpoint)}` |");
        md.AppendLine($"| starting point | {o.StartingPoint} |");
        md.AppendLine($"| model.safetensors SHA-256 | `{r.CheckpointSha256}` |");
        md.AppendLine($"| data | `{o.DataSpec}`, split `{o.Split}` |");
        md.AppendLine($"| data SHA-256 (evaluated ids and labels) | `{r.DataSha256}` |");
        md.AppendLine($"| images | {r.Evaluated.Count} evaluated of {r.ImagesListed}; {r.Skipped.Summary()} |");
        md.AppendLine($"| uncertain labels | {BinaryTargets.Name(o.Uncertain)} |");
        md.AppendLine($"| intervals | {Bootstrap.Level * 100:F0}% percentile bootstrap, {o.Resamples} resamples, seed {o.Seed} |");
        md.AppendLine($"| logit scale | {F(r.LogitScale)} |").AppendLine();
        if (r.LabelsNotice is not null) md.AppendLine($"**Note:** {r.LabelsNotice}.").AppendLine();

        if (r.ZeroShot is not null)
        {
            md.AppendLine("## Zero-shot classification").AppendLine();
            md.AppendLine($"Score = softmax over the label's positive and negative prompt similarities (times the logit scale); prompts: {o.Prompts.Source} " +
                "(several templates per side are averaged and renormalised). Blank labels count as negative.").AppendLine();
            var probe = r.Probe?.ToDictionary(p => p.Result.Label, p => p.Result);
            md.AppendLine("| label | pos | neg | excl. | zero-shot AUROC [95% CI] | Youden score threshold | sensitivity | specificity | linear probe AUROC [95% CI] |");
            md.AppendLine("|---|---:|---:|---:|---|---:|---:|---:|---|");
            foreach (var b in r.ZeroShot)
            {
                string name = ChexpertLabels.Competition.Contains(b.Label) ? $"**{b.Label}**" : b.Label;
                md.AppendLine($"| {name} | {b.Positives} | {b.Negatives} | {b.Excluded} | {Auroc(b)} | " +
                    $"{(b.Youden is { } y ? $"{F(y.Threshold)} | {F(y.Sensitivity)} | {F(y.Specificity)}" : "| |")} | " +
                    $"{(probe?.GetValueOrDefault(b.Label) is { } p ? Auroc(p) : "")} |");
            }
            md.AppendLine();
            md.AppendLine($"Mean AUROC over the five competition labels (bold): zero-shot {Mean(r.ZeroShotMean!)}" +
                (r.ProbeMean is { } pm ? $"; linear probe {Mean(pm)}" : "") + ".").AppendLine();
            md.AppendLine($"![zero-shot ROC]({EvaluationOutputs.ZeroShotRocPlot})").AppendLine();
        }

        md.AppendLine("## 5x200 multiclass").AppendLine();
        if (r.FiveByTwoHundred is { } f)
        {
            var classes = FiveByTwoHundred.Classes;
            md.AppendLine($"Frontal images positive for exactly one competition label and negative for the other four, up to " +
                $"{FiveByTwoHundred.PerClass} per class drawn with seed {o.Seed} ({f.Truth.Length} images; ids in `{EvaluationOutputs.FiveByTwoHundredIdsFile}`). " +
                "Predicted class = the most similar positive prompt.").AppendLine();
            md.AppendLine($"Accuracy {F(f.Accuracy)} {Ci(f.AccuracyInterval)}, macro-F1 {F(f.MacroF1)} {Ci(f.MacroF1Interval)}.").AppendLine();
            md.AppendLine("| true \\ predicted | " + string.Join(" | ", classes) + " | sampled (candidates) |");
            md.AppendLine("|---|" + string.Concat(Enumerable.Repeat("---:|", classes.Count + 1)));
            for (int row = 0; row < classes.Count; row++)
            {
                md.Append($"| {classes[row]} | ");
                md.Append(string.Join(" | ", Enumerable.Range(0, classes.Count).Select(c => f.Confusion[row, c])));
                md.AppendLine($" | {f.Truth.Count(t => t == row)} ({f.Sample.CandidatesPerClass[row]}) |");
            }
            md.AppendLine().AppendLine($"![5x200 confusion matrix]({EvaluationOutputs.ConfusionPlot})").AppendLine();
        }
        else md.AppendLine($"Not run: {r.FiveByTwoHundredNotice}.").AppendLine();

        if (r.Retrieval is { } t)
        {
            md.AppendLine("## Retrieval").AppendLine();
            md.AppendLine($"{t.Pairs} image-report pairs; {t.DuplicateTexts} reports duplicate an earlier one's token ids ({t.DistinctTexts} distinct), " +
                "and any duplicate counts as a correct match. Ties with a wrong candidate count against the query.").AppendLine();
            md.AppendLine("| direction | R@1 | R@5 | R@10 | mean rank | median rank |").AppendLine("|---|---:|---:|---:|---:|---:|");
            foreach (var d in new[] { t.ImageToText, t.TextToImage })
                md.AppendLine($"| {d.Name} | {F(d.Recall(1))} | {F(d.Recall(5))} | {F(d.Recall(10))} | {d.MeanRank:F1} | {d.MedianRank:F0} |");
            md.AppendLine();
        }

        md.AppendLine("## Linear probe").AppendLine();
        md.AppendLine(r.Probe is null
            ? $"Not run: {r.ProbeNotice}."
            : $"L2-regularised logistic regression per label (lambda = {LinearProbe.Lambda}, intercept unpenalised, Newton's method in double) " +
              $"on frozen image embeddings of {r.ProbeTrainImages} training images ({r.ProbeTrainSkipped.Summary()}); AUROCs in the zero-shot table.");
        if (r.Probe is not null) md.AppendLine().AppendLine($"![linear probe ROC]({EvaluationOutputs.ProbeRocPlot})");
        md.AppendLine();

        md.AppendLine("## Training curves").AppendLine();
        if (curves is null) md.AppendLine("No metrics.jsonl beside the checkpoint.");
        else
        {
            md.AppendLine($"From `{curves.Path}`.").AppendLine();
            md.AppendLine($"![training loss]({EvaluationOutputs.LossPlot})").AppendLine();
            md.AppendLine($"![logit scale]({EvaluationOutputs.LogitScalePlot})");
        }
        return md.ToString();
    }

    public static string F(double v) => v.ToString("F3", CultureInfo.InvariantCulture);

    public static string Ci(ConfidenceInterval? ci) => ci is null ? "[no valid resample]" : $"[{F(ci.Lower)}, {F(ci.Upper)}]";

    public static string Auroc(BinaryLabelResult b) => b.Auroc is double a ? $"{F(a)} {Ci(b.AurocInterval)}" : $"undefined: {b.UndefinedReason}";

    public static string Mean(MeanAuroc m) =>
        m.Value is double v
            ? $"{F(v)} {Ci(m.Interval)}" + (m.Excluded.Count > 0 ? $" (without {string.Join(", ", m.Excluded)}: no AUROC)" : "")
            : "undefined (no competition label has an AUROC)";
}
