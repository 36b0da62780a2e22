using System.Globalization;
using MedClip.Data;

namespace MedClip.Evaluation;

/// <summary>Writes an evaluation's files into its output folder: metrics.json, predictions.csv, the 5x200 sample's ids, the PNG plots and report.md.</summary>
public static class EvaluationOutputs
{
    public const string MetricsFile = "metrics.json";
    public const string PredictionsFile = "predictions.csv";
    public const string ReportFile = "report.md";
    public const string FiveByTwoHundredIdsFile = "five_by_200_ids.csv";
    public const string ZeroShotRocPlot = "roc_zero_shot.png";
    public const string ProbeRocPlot = "roc_linear_probe.png";
    public const string ConfusionPlot = "confusion_five_by_200.png";
    public const string LossPlot = "training_loss.png";
    public const string LogitScalePlot = "training_logit_scale.png";

    public static void Write(EvaluationReport report, string directory)
    {
        Directory.CreateDirectory(directory);
        MetricsJson.Write(Path.Combine(directory, MetricsFile), report);
        WritePredictions(Path.Combine(directory, PredictionsFile), report);
        var plots = new List<string>();
        if (report.ZeroShot is not null)
        {
            EvaluationPlots.RocCurves(Path.Combine(directory, ZeroShotRocPlot), "Zero-shot ROC (AUROC; dot = Youden point)", report.ZeroShot);
            plots.Add(ZeroShotRocPlot);
        }
        if (report.Probe is not null)
        {
            EvaluationPlots.RocCurves(Path.Combine(directory, ProbeRocPlot), "Linear probe ROC (AUROC; dot = Youden point)", report.Probe.Select(p => p.Result).ToList());
            plots.Add(ProbeRocPlot);
        }
        if (report.FiveByTwoHundred is { } f)
        {
            WriteFiveByTwoHundredIds(Path.Combine(directory, FiveByTwoHundredIdsFile), report.Evaluated, f);
            EvaluationPlots.ConfusionMatrix(Path.Combine(directory, ConfusionPlot), "5x200 zero-shot confusion matrix", f.Confusion, FiveByTwoHundred.Classes);
            plots.Add(ConfusionPlot);
        }
        var curves = TrainingCurves.ForCheckpoint(report.Options.Checkpoint);
        if (curves is not null)
        {
            EvaluationPlots.StepCurves(Path.Combine(directory, LossPlot), "Training loss", "InfoNCE loss", ("train", curves.Loss), ("validation", curves.ValidationLoss));
            EvaluationPlots.StepCurves(Path.Combine(directory, LogitScalePlot), "Logit scale", "exp(logit_scale)", ("logit scale", curves.LogitScale));
        }
        IO.AtomicFile.WriteAllText(Path.Combine(directory, ReportFile), ReportMarkdown.Build(report, curves));
    }

    /// <summary>
    /// One row per evaluated image: image, study_id, then score_Label (zero-shot probability; absent when the split has
    /// no labels) and true_Label (1, 0, -1, empty when not mentioned) for each scored label.
    /// </summary>
    private static void WritePredictions(string path, EvaluationReport report)
    {
        var labels = report.ZeroShotLabels;
        var scores = report.ZeroShotScores;
        var columns = new List<string> { "image", "study_id" };
        if (scores is not null) columns.AddRange(labels.Select(l => $"score_{l}"));
        columns.AddRange(labels.Select(l => $"true_{l}"));
        var rows = report.Evaluated.Select((s, i) =>
        {
            var row = new List<string> { s.ImagePath, s.StudyId };
            if (scores is not null) row.AddRange(labels.Select(l => scores[l][i].ToString("R", CultureInfo.InvariantCulture)));
            row.AddRange(labels.Select(l => EvaluationHashes.LabelText(s.Labels.GetValueOrDefault(l))));
            return (IReadOnlyList<string>)row;
        });
        CsvWriter.Write(path, columns, rows);
    }

    private static void WriteFiveByTwoHundredIds(string path, IReadOnlyList<ImageTextSample> evaluated, FiveByTwoHundredResult f)
    {
        var rows = f.Sample.Images.Select((image, i) => (IReadOnlyList<string>)
        [
            evaluated[image].DicomId, evaluated[image].StudyId, evaluated[image].SubjectId,
            FiveByTwoHundred.Classes[f.Truth[i]], FiveByTwoHundred.Classes[f.Predicted[i]],
        ]);
        CsvWriter.Write(path, ["dicom_id", "study_id", "subject_id", "class", "predicted"], rows);
    }
}
